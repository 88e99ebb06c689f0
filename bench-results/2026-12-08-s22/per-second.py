#!/usr/bin/env python3
# per-second.py RUN.samples RUN.json [chat|storm]: a second-by-second table of
# one pair's runs from sample.py's lines and the storm report (its timeline's
# per-second p99 in the last column).
import json, sys
KN='roomcast_gateway_inline_writes_total{outcome="none"}'
KR='roomcast_gateway_inline_writes_total{outcome="rest"}'
samp=[json.loads(l) for l in open(sys.argv[1])]
d=json.load(open(sys.argv[2]))
pids=[]
for r in samp:
    if r['pid'] not in pids: pids.append(r['pid'])
which = sys.argv[3] if len(sys.argv)>3 else 'both'
for k,pid in enumerate(pids):
    name=['chat','storm'][k] if k<2 else str(k)
    if which!='both' and which!=name: continue
    run=d['chat_only' if name=='chat' else 'storm'][0]
    rs=[r for r in samp if r['pid']==pid and 'm' in r]
    t0=None
    for r in rs:
        if r['m'].get('roomcast_fanout_notify_sent_total',0)>20000: t0=r['t']; break
    tl={x['t_s']:x['p99_ms'] for x in run['timeline']}
    print(f"== {name} p99 {run['latency_ms']['p99']:.0f} socket {run['owner_to_socket_ms']['p99']:.0f} drain {run['delivery']['drain_seconds']}")
    print(" t  idle sirq coord self  intv busy nodecpu wkcpu  toolRQ(MB) RQmax RQbig  srvSQ(MB) SQmax SQbig gwQ  inl_none inl_rest  p99@")
    prev=None
    for r in rs:
        if prev is not None and t0 is not None and r['t']>=t0-2:
            dt=r['t']-prev['t']; m=r['m']; pm=prev['m']; s=r['ss']
            g=lambda k: m.get(k,0)-pm.get(k,0)
            wc=sum(x or 0 for x in r['worker_cpu'])-sum(x or 0 for x in prev['worker_cpu'])
            ts=round(r['t']-t0)
            st=[x-y for x,y in zip(r['stat'],prev['stat'])]; tot=sum(st) or 1
            cc=sum(x or 0 for x in r['coord_cpu'])-sum(x or 0 for x in prev['coord_cpu'])
            print(f"{r['t']-t0:5.1f} {2*st[3]/tot:4.2f} {2*st[6]/tot:4.2f} {cc/dt:4.2f} {(r['self_cpu']-prev['self_cpu'])/dt:4.2f} {m['roomcast_fanout_pacer_interval_seconds']*1000:4.0f} {g('roomcast_fanout_round_seconds_total')/dt:4.2f} {(r['node_cpu']-prev['node_cpu'])/dt:5.2f} {wc/dt:5.2f}  {s['tool_recvq']/1e6:7.1f} {s['tool_recvq_max']:6d} {s['tool_recvq_big']:5d}  {s['srv_sendq']/1e6:7.1f} {s['srv_sendq_max']:6d} {s['srv_sendq_big']:5d} {m.get('roomcast_gateway_queue_bytes',0)/1e3:5.0f}k {g(KN)/dt:7.0f} {g(KR)/dt:6.0f}  {tl.get(ts,'')}")
        prev=r
