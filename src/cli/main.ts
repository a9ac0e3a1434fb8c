#!/usr/bin/env node
/** The `baregate` command (the commands are in program.ts, shared with the kubectl plugin). */
import { runCli } from './program.ts';

runCli('baregate');
