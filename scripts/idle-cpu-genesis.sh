#!/bin/bash
# idle-cpu-genesis.sh REPO_ROOT LABEL [RULES]: 4 built agents (REPO_ROOT/dist) with a one-validator genesis, lan profile;
# after 40 s to settle, each agent's CPU over 60 s (% of one core). idle-cpu.mjs runs agents without a genesis;
# the admission policy, critical config and the security monitor run only with one. Compare two builds by running
# it on each checkout in turn (ports 4611-4614, 8961-8964); LOGLEVEL=info measures at the default log level. With RULES (a rule file, e.g. deploy/mycel/alert-rules.yml)
# the rules are set once the agents run, so the monitoring manager's holder evaluates them while measured.
# The agents run with the node flags of ROOT's bin (its #! line), as its user gets them: harness/node-command.ts of
# this checkout's dist/ says which (npm run build here first).
set -e
ROOT=$1; LABEL=$2
HERE=$(cd "$(dirname "$0")/.." && pwd)
M=$(node --input-type=module -e "const { nodeCommand } = await import('$HERE/dist/harness/node-command.js'); const c = nodeCommand(process.argv[1], []); console.log(['env', ...Object.entries(c.env).map(([k, v]) => k + '=' + v), c.command, ...c.args].join(' '))" "$ROOT/dist/daemon/cli.js")
W=$(mktemp -d /tmp/idle-XXXX)
for i in 1 2 3 4; do $M init --data-dir $W/n$i >/dev/null; done
V=$($M id --data-dir $W/n1)
$M genesis create --network-id idle --validator $V --admin $V --out $W/g.json >/dev/null
pids=()
for i in 1 2 3 4; do
  B=""; [ $i -gt 1 ] && B="--bootstrap /ip4/127.0.0.1/tcp/461$((1))/p2p/$V"
  $M agent --data-dir $W/n$i --genesis $W/g.json --listen /ip4/127.0.0.1/tcp/461$i --api 127.0.0.1:896$i $B --log-level ${LOGLEVEL:-warn} > $W/n$i.log 2>&1 &
  pids+=($!); sleep 1
done
if [ -n "$3" ]; then sleep 5; $M alert rules set "$3" --api 127.0.0.1:8961 >/dev/null; fi
sleep 40
t0=(); for p in ${pids[@]}; do t0+=($(awk '{print $14+$15}' /proc/$p/stat)); done
sleep 60
i=0; out=""
for p in ${pids[@]}; do t1=$(awk '{print $14+$15}' /proc/$p/stat); out="$out $(echo "scale=2; ($t1-${t0[$i]})/60" | bc)%"; i=$((i+1)); done
echo "$LABEL idle CPU per agent (% of a core over 60 s): $out"
for i in 1 2 3 4; do echo -n "n$i $(node $ROOT/dist/daemon/cli.js roles --api 127.0.0.1:896$i 2>/dev/null | grep -o 'acting for.*' | grep -o 'monitoring' || true); "; done; echo
node $ROOT/dist/daemon/cli.js members --api 127.0.0.1:8961 | wc -l
kill ${pids[@]}; wait 2>/dev/null; rm -rf $W
