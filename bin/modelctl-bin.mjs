#!/usr/bin/env node
// Launcher for the `modelctl` bin: loads the TypeScript sources through tsx (a dependency).
import { register } from 'tsx/esm/api';

register();
await import('../local/quiet.ts');
await import('./modelctl-main.ts');
