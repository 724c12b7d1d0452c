/**
 * The signals that stop `npm start` cleanly: every signal whose default action ends a process and
 * that Node lets a program handle. The server (`start.ts`) stops gracefully on each of them; the
 * embedded AWS servers' child (`aws-process.ts`) ignores them all, because a signal sent to the
 * whole process group (Ctrl+C, Ctrl+\, a closed terminal, a supervisor) reaches it too, and the
 * server must first write its queued prediction-log records there.
 *
 * Left out: SIGKILL and SIGSTOP (cannot be caught), SIGUSR1 (Node starts its inspector),
 * SIGPROF (V8's sampling profiler), SIGPIPE and SIGXFSZ (Node ignores them), SIGTRAP (debuggers),
 * and the faults SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT and SIGSYS (no handler can make the
 * process safe to continue). Names a platform lacks (SIGPWR, SIGSTKFLT off Linux) are inert.
 * When npm itself dies of a signal it does not forward, `start.ts` notices its parent is gone.
 */
export const STOP_SIGNALS = [
  'SIGINT', // Ctrl+C
  'SIGTERM', // a process manager's stop
  'SIGHUP', // a closed terminal
  'SIGQUIT', // Ctrl+\
  'SIGUSR2', // nodemon and similar restarters
  'SIGALRM',
  'SIGVTALRM',
  'SIGXCPU', // the CPU time limit (ulimit -t)
  'SIGPWR',
  'SIGIO',
  'SIGSTKFLT',
] as const satisfies readonly NodeJS.Signals[];
