#!/usr/bin/env bash
# `npm run lab`: the local lab (apiserver, node namespaces running speakers, router, client).
echo "npm run lab: not yet built. The lab arrives with the speaker (L2/BGP) work; today 'npm test' runs the"
echo "controller against a real kube-apiserver + etcd (see README: Development)."
exit 1
