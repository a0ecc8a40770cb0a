#!/usr/bin/env python3
"""The way back: the domain XML (virsh dumpxml --migratable, on stdin) with
each network interface turned into a vhostuser one on the socket argv[1]
(QEMU connects: the relay in server mode); MAC, model, alias and PCI
address kept."""
import sys
import xml.etree.ElementTree as ET

ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")
dom = ET.parse(sys.stdin)
n = 0
for iface in dom.getroot().findall("./devices/interface[@type='network']"):
    iface.set("type", "vhostuser")
    for old in iface.findall("source") + iface.findall("target"):
        iface.remove(old)
    ET.SubElement(iface, "source", type="unix", path=sys.argv[1], mode="client")
    n += 1
if n == 0:
    sys.exit("to-vhostuser: no network interface in the domain")
dom.write(sys.stdout, encoding="unicode")
