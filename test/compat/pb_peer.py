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
    emit({'ready': True})
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
