#!/usr/bin/env node
/**
 * `kubectl-baregate`: installing the package puts it on PATH, and kubectl runs it for `kubectl baregate …`
 * (kubectl's plugin convention). The same commands as `baregate`; help and usage say `kubectl baregate`. kubectl
 * hands a plugin its environment, not its flags: the commands read $KUBECONFIG like kubectl does.
 */
import { runCli } from './program.ts';

runCli('kubectl baregate');
