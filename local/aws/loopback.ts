/**
 * Small parts both local AWS servers (`s3.ts`, `dynamo.ts`) are built from: listening on and
 * closing a loopback HTTP server, reading a body, and a FIFO shared/exclusive lock.
 */
import type http from 'node:http';

/** A started server: its endpoint URL, and how to stop it. */
export interface RunningServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function close(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function readBody(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** FIFO lock: many shared holders at once, or one exclusive holder. */
export class SharedExclusiveLock {
  private holders = 0; // > 0: shared holders; -1: one exclusive holder
  private readonly waiting: Array<{ exclusive: boolean; grant: () => void }> = [];

  acquire(exclusive: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      this.waiting.push({
        exclusive,
        grant: () => {
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.holders = exclusive ? 0 : this.holders - 1;
            this.pump();
          });
        },
      });
      this.pump();
    });
  }

  private pump(): void {
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      if (next.exclusive ? this.holders !== 0 : this.holders < 0) return;
      this.holders = next.exclusive ? -1 : this.holders + 1;
      this.waiting.shift();
      next.grant();
    }
  }
}
