#!/usr/bin/env node
/** `kubectl-baregate`: kubectl runs it for `kubectl baregate …`. STUB (the plugin helper replaces it). */
await import('./main.ts');
