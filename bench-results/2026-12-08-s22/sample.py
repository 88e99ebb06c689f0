#!/usr/bin/env python3
# sample.py OUT BINDIR: once a second, while a roomcast node from BINDIR runs
# (BINDIR/roomcast -config ..., as roomcast-bench storm starts it), append one
# JSON line to OUT: some node metrics, the summed queues of every established
# loopback socket of the node's port (ss: Recv-Q of the tool's ends, Send-Q of
# the node's), the CPU of the node, its workers, the storm coordinator and
# this sampler, and /proc/stat. BENCHMARKS.md, "The load tool behind its
# viewers". Run it beside `roomcast-bench storm -pairs 1`, one file per pair.
import json, os, re, subprocess, sys, time, urllib.request

out, bindir = sys.argv[1], sys.argv[2]
CLK = os.sysconf('SC_CLK_TCK')
WANT = ('roomcast_fanout_pacer_interval_seconds', 'roomcast_fanout_round_seconds_total',
        'roomcast_gateway_queue_bytes', 'roomcast_gateway_inline_writes_total',
        'roomcast_fanout_notify_backed_up_total', 'roomcast_gateway_partial_bytes',
        'roomcast_fanout_notify_sent_total', 'roomcast_fanout_pulls_total')

def pids(pat):
    r = subprocess.run(['pgrep', '-f', pat], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]

def cpu(pid):
    try:
        f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK
    except OSError:
        return None

def port_of(pid):
    r = subprocess.run(['ss', '-ltnpH'], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if f'pid={pid},' in line:
            return int(line.split()[3].rsplit(':', 1)[1])
    return None

f = open(out, 'a')
while True:
    t0 = time.time()
    node = pids(bindir + '/roomcast -config')
    if not node:
        time.sleep(0.3)
        continue
    pid = node[0]
    port = port_of(pid)
    if port is None:
        time.sleep(0.3)
        continue
    rec = {'t': t0, 'pid': pid, 'node_cpu': cpu(pid)}
    rec['stat'] = [int(x) for x in open('/proc/stat').readline().split()[1:9]]
    rec['coord_cpu'] = [cpu(c) for c in pids('roomcast-bench storm')]
    rec['self_cpu'] = cpu(os.getpid())
    workers = pids(bindir + '/roomcast-bench worker') or pids('roomcast-bench.*worker')
    rec['worker_cpu'] = [cpu(w) for w in workers]
    try:
        body = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=2).read().decode()
        m = {}
        for line in body.splitlines():
            if line.startswith(WANT):
                k, v = line.rsplit(' ', 1)
                m[k] = float(v)
        rec['m'] = m
    except Exception as e:
        rec['m_err'] = str(e)
    t1 = time.time()
    r = subprocess.run(['ss', '-tnH', 'state', 'established'], capture_output=True, text=True)
    srv_sq = srv_rq = tool_rq = tool_sq = 0
    srv_sq_max = tool_rq_max = 0
    tool_rq_big = srv_sq_big = n = 0
    ps = f':{port}'
    for line in r.stdout.splitlines():
        p = line.split()
        if len(p) < 4:
            continue
        rq, sq, loc, peer = int(p[0]), int(p[1]), p[2], p[3]
        if loc.endswith(ps):
            n += 1
            srv_sq += sq; srv_rq += rq
            srv_sq_max = max(srv_sq_max, sq)
            if sq > 16384: srv_sq_big += 1
        elif peer.endswith(ps):
            tool_rq += rq; tool_sq += sq
            tool_rq_max = max(tool_rq_max, rq)
            if rq > 16384: tool_rq_big += 1
    rec['ss'] = dict(n=n, srv_sendq=srv_sq, srv_recvq=srv_rq, srv_sendq_max=srv_sq_max,
                     srv_sendq_big=srv_sq_big, tool_recvq=tool_rq, tool_sendq=tool_sq,
                     tool_recvq_max=tool_rq_max, tool_recvq_big=tool_rq_big, dt=time.time() - t1)
    f.write(json.dumps(rec) + '\n'); f.flush()
    time.sleep(max(0, 1 - (time.time() - t0)))
