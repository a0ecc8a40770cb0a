#!/usr/bin/env python3
"""The guide's --xml for migrating to a host without vio4wd: the domain XML
(virsh dumpxml --migratable, on stdin) with each vhostuser interface turned
into one on the libvirt network named by argv[1]; the rest (MAC, model,
alias, PCI address) kept, so that the guest's device stays the same."""
import sys
import xml.etree.ElementTree as ET

ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")
dom = ET.parse(sys.stdin)
n = 0
for iface in dom.getroot().findall("./devices/interface[@type='vhostuser']"):
    iface.set("type", "network")
    for old in iface.findall("source"):
        iface.remove(old)
    ET.SubElement(iface, "source", network=sys.argv[1])
    n += 1
if n == 0:
    sys.exit("to-network: no vhostuser interface in the domain")
dom.write(sys.stdout, encoding="unicode")
