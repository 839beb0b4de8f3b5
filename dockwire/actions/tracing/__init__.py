"""Ask the kernel which rules judge the probe's packets, through temporary trace rules that always go away.

- nft hosts (iptables-nft, or Docker's nftables backend): a table of dockwire's own,
  `ip dockwire-trace-<runid>`, with one chain at prerouting and one at output, priority -350 (before raw),
  whose rules set `nftrace` on packets that carry the probe's marker; `nft -a monitor` prints every rule
  those packets then hit, in every table, with rule handles. No one else's chain is touched.
- legacy iptables: `-j TRACE` rules at the top of raw PREROUTING/OUTPUT; the kernel logs each rule the packet
  hits (`TRACE: table:chain:rule:N`), read from /dev/kmsg. Needs a kernel logger bound for IPv4.
- otherwise, or when that logger is missing: a before/after diff of `iptables-save -c` counters.

Every table/rule carries the comment (and the table the name) `dockwire-trace-<runid>`, the run id starting
with dockwire's pid. Removal happens in a finally (also on cancellation: SIGINT, and SIGTERM through
`cancel_on_sigterm`), at interpreter exit, and rules left by a run whose process is gone are swept at the
next start. `--no-trace` adds nothing at all.
"""
