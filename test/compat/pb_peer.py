#!/usr/bin/python3
"""A ZeroMQ peer built on the official protobuf runtime (Debian's
python3-protobuf and python3-zmq), with our .proto compiled by protoc.

It checks the wire from the side of an implementation we did not write:

  pb_peer.py client   reads a JSON list of steps on stdin, sends each request
                      (encoded by the official runtime) and prints one JSON
                      line per reply as the official runtime decodes it.
  pb_peer.py server   binds REP sockets, answers every request with a canned
                      reply (encoded by the official runtime) and prints one
                      JSON line per request as the official runtime decodes it.

A step: {"ep": endpoint, "request": type, "reply": type, "msg": dict} or
{"ep", "reply", "raw_hex"} to send bytes as they are.
"""
import binascii
import importlib
import json
import os
import subprocess
import sys
import tempfile

import zmq
from google.protobuf import json_format
from google.protobuf.message import DecodeError

# VIO4WD_PROTO: another .proto (the original's, without vio4wd's extensions).
PROTO = os.environ.get('VIO4WD_PROTO') or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     '..', '..', 'packages', 'common', 'proto', 'virtioforwarder.proto')


def compile_proto():
    out = tempfile.mkdtemp(prefix='vio4wd-pb-')
    proto = os.path.realpath(PROTO)
    subprocess.run(['protoc', '--proto_path=' + os.path.dirname(proto), '--python_out=' + out,
                    os.path.basename(proto)], check=True)
    sys.path.insert(0, out)
    return importlib.import_module('virtioforwarder_pb2')


pb = compile_proto()


def to_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def decode(type_name, data):
    """What the official runtime makes of a frame: fields, or why not."""
    msg = getattr(pb, type_name)()
    try:
        msg.MergeFromString(data)
    except DecodeError as e:
        return {'parsed': False, 'error': str(e), 'hex': binascii.hexlify(data).decode()}
    return {'parsed': True, 'initialized': msg.IsInitialized(),
            'missing': msg.FindInitializationErrors(), 'msg': to_dict(msg),
            'hex': binascii.hexlify(data).decode()}


def encode(type_name, fields):
    msg = json_format.ParseDict(fields, getattr(pb, type_name)())
    if not msg.IsInitialized():
        raise SystemExit('%s %r is missing %s' % (type_name, fields, msg.FindInitializationErrors()))
    return msg.SerializeToString()


def flat(reply, suppress_zero):
    """virtioforwarder_stats.py's flat lines, written here from its documented
    format with the official runtime's presence (HasField/ListFields) and
    Python's own str() of each value: the oracle for our entry point."""
    lines = []
    for r in reply.relay:
        def put(msg, path, name):
            if msg is None or name not in {f.name for f, _ in msg.ListFields()}:
                return
            v = getattr(msg, name)
            if suppress_zero and isinstance(v, int) and not isinstance(v, bool) and v == 0:
                return
            lines.append('.'.join(['relay_%d' % r.id] + path + ['%s=%s' % (name, v)]))
        cpu = r.cpu if r.HasField('cpu') else None
        put(r, [], 'active')
        put(cpu, ['cpu'], 'vf_to_vm')
        put(cpu, ['cpu'], 'vm_to_vf')
        put(r.vf if r.HasField('vf') else None, ['vf'], 'pci_addr_str')
        put(r.vhost, ['vhost'], 'vhost_socket_name')
        for d, a, b in (('vf_to_vm', 'vf', 'vm'), ('vm_to_vf', 'vm', 'vf')):
            msg = getattr(r, d)
            put(msg, [d], 'active')
            put(msg, [d], 'internal_state')
            path = [d, 'cpu_%d' % getattr(r.cpu, d)] if cpu is not None and cpu.HasField(d) else [d]
            for name in ('pkts_rx_from_' + a, 'bytes_rx_from_' + a, 'pkts_tx_to_' + b, 'bytes_tx_to_' + b,
                         'pkt_rate_rx_from_' + a, 'byte_rate_rx_from_' + a, 'pkt_rate_tx_to_' + b, 'byte_rate_tx_to_' + b,
                         'pkts_dropped_%s_queue_full' % b, 'bytes_dropped_%s_queue_full' % b,
                         'pkts_dropped_%s_not_connected' % b, 'bytes_dropped_%s_not_connected' % b):
                put(msg, path, name)
    return lines


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def client():
    ctx = zmq.Context()
    for step in json.load(sys.stdin):
        frame = binascii.unhexlify(step['raw_hex']) if 'raw_hex' in step else encode(step['request'], step['msg'])
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, int(step.get('timeout_ms', 5000)))
        sock.connect(step['ep'])
        sock.send(frame)
        try:
            emit(decode(step['reply'], sock.recv()))
        except zmq.Again:
            emit({'parsed': False, 'error': 'no reply within the timeout'})
        sock.close()
    ctx.term()


def server():
    """argv: JSON {endpoint: {"request": type, "reply": type, "msg": dict}}; serves until stdin closes."""
    spec = json.loads(sys.argv[2])
    ctx = zmq.Context()
    poller = zmq.Poller()
    socks = {}
    for ep, s in spec.items():
        sock = ctx.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(ep)
        poller.register(sock, zmq.POLLIN)
        socks[sock] = (ep, s['request'], encode(s['reply'], s['msg']))
    poller.register(sys.stdin, zmq.POLLIN)
    # How the official runtime prints each canned reply (str(), the text
    # format), and a stats reply's flat lines.
    printed = {}
    for ep, s in spec.items():
        msg = getattr(pb, s['reply']).FromString(encode(s['reply'], s['msg']))
        printed[ep] = {'text': str(msg)}
        if s['reply'] == 'StatsResponse':
            printed[ep]['flat'] = flat(msg, False)
            printed[ep]['flat_z'] = flat(msg, True)
    emit({'ready': True, 'printed': printed})
    while True:
        events = dict(poller.poll())
        if sys.stdin.fileno() in events or sys.stdin in events:
            break
        for sock, (ep, req_type, reply) in socks.items():
            if sock in events:
                got = decode(req_type, sock.recv())
                got['ep'] = ep
                emit(got)
                sock.send(reply)
    ctx.destroy(linger=0)


if __name__ == '__main__':
    {'client': client, 'server': server}[sys.argv[1]]()
