"""The embedded lab: the topology emulated on one Linux host with real kernel networking, a private
Open vSwitch (userspace datapath) and the real CNI plugin binaries. Needs root."""
