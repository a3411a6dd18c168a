//! Probe parsers on real output samples (tests/samples), and fuzzed: malformed and truncated
//! output gives an error, never a panic.

use postmortem::probe::parse::*;
use proptest::prelude::*;

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The part of a multi-part sample file under a `--- title` line, up to the next one.
fn section(text: &str, title: &str) -> String {
    text.split("\n--- ")
        .find(|s| s.starts_with(title))
        .map(|s| s.lines().skip(1).collect::<Vec<_>>().join("\n"))
        .unwrap()
}

#[test]
fn apt_outcomes() {
    let t = apt_update(&sample("apt-fail-hosts.txt")).unwrap();
    assert_eq!((t.outcome.as_str(), t.ok), ("timeout", false));
    assert_eq!(t.mirror.as_deref(), Some("archive.ubuntu.com"));
    assert!(t.error.unwrap().contains(
        "Could not connect to archive.ubuntu.com:80 (203.0.113.80), connection timed out"
    ));
    assert_eq!(
        apt_update(&sample("apt-fail-dns.txt")).unwrap().outcome,
        "resolve"
    );
    let ok = apt_update(&sample("apt-ok-hosts.txt")).unwrap();
    assert!(ok.ok && ok.outcome == "ok" && ok.error.is_none());
    let refused = "Err:1 http://m/ubuntu focal InRelease\n  Could not connect to m:80 (10.0.0.1). - connect (111: Connection refused)\nReading package lists...\n";
    assert_eq!(apt_update(refused).unwrap().outcome, "refused");
    let http = "Err:1 http://m/ubuntu focal InRelease\n  404  Not Found [IP: 10.0.0.1 80]\nReading package lists...\nE: The repository 'http://m/ubuntu focal InRelease' does not have a Release file.\n";
    assert_eq!(apt_update(http).unwrap().outcome, "http");
    assert!(apt_update("hello").is_err());
}

#[test]
fn ansible_wordings() {
    for (file, msg) in [
        (
            "ansible215-fail.txt",
            "Failed to update apt cache: unknown reason",
        ),
        ("ansible29-fail.txt", "Failed to update apt cache: "),
        (
            "ansible219-fail.txt",
            "Failed to update apt cache after 5 retries: ",
        ),
    ] {
        let r = ansible(&sample(file)).unwrap();
        assert!(!r.ok && r.apt_cache_failed, "{file}");
        let t = r.failed_tasks.iter().find(|t| t.host == "node1").unwrap();
        assert_eq!(
            t.task, "kubernetes/preinstall : Update package management cache (APT)",
            "{file}"
        );
        assert_eq!(t.msg, msg, "{file}");
        assert_eq!(
            r.recap.iter().find(|x| x.host == "node2").unwrap().failed,
            1,
            "{file}"
        );
    }
    let ok = ansible(&sample("ansible215-ok.txt")).unwrap();
    assert!(ok.ok && !ok.apt_cache_failed && ok.failed_tasks.is_empty());
    assert_eq!(ok.recap.len(), 2);
    assert_eq!(ok.recap[0].ok, 4);
}

#[test]
fn bgp_states_from_bird_and_calicoctl() {
    let blocked = sample("bird2-bgp-blocked.txt");
    let b = bgp(&section(&blocked, "node1: birdc show protocols")).unwrap();
    assert_eq!(b.source, "bird2");
    assert_eq!(
        b.peers,
        vec![BgpPeer {
            peer: "192.168.222.157".into(),
            state: "start".into(),
            info: "Connect".into(),
            established: false
        }]
    );
    assert_eq!(b.all_established, Some(false));
    let up = bgp(&section(
        &sample("bird2-bgp-established.txt"),
        "node2: birdc show protocols",
    ))
    .unwrap();
    assert!(up.all_established == Some(true) && up.peers[0].peer == "192.168.222.222");
    let c = bgp(&sample("calicoctl-docs-established.txt")).unwrap();
    assert_eq!(c.source, "calicoctl");
    assert!(
        c.all_established == Some(true)
            && c.peers[0].peer == "172.17.8.102"
            && c.peers[0].state == "up"
    );
    let c = bgp(&sample("calicoctl-blocked.txt")).unwrap();
    assert!(c.all_established == Some(false) && c.peers[0].info == "Active");
    let b1 = bgp(&sample("bird1-calico-connect.txt")).unwrap();
    assert_eq!(b1.source, "bird1");
    assert_eq!(b1.peers[0].info, "Connect Socket: Connection refused");
    assert!(bgp("Calico process is not running.\n").is_err());
    // Calico's VXLAN backend runs no BGP daemon: nothing to judge, not a failure.
    let v = bgp(&sample("calicoctl-vxlan-no-bgp.txt")).unwrap();
    assert!(!v.daemon && v.peers.is_empty() && v.all_established.is_none());
}

#[test]
fn routes_ping_and_links() {
    let before = routes(&section(
        &sample("bird2-bgp-blocked.txt"),
        "node2: ip route",
    ))
    .unwrap();
    assert_eq!(before.default_via.as_deref(), Some("192.168.222.1"));
    assert!(
        before.bgp_learned.is_empty(),
        "a blackhole is not a learned route"
    );
    let after = routes(&section(
        &sample("bird2-bgp-established.txt"),
        "node2: ip route",
    ))
    .unwrap();
    assert_eq!(after.bgp_learned, vec!["10.233.96.0/24"]);
    let p = ping(&section(&sample("bird2-bgp-blocked.txt"), "cross node")).unwrap();
    assert_eq!((p.transmitted, p.received, p.loss_percent), (3, 0, 100));
    let p = ping("2 packets transmitted, 2 packets received, 0% packet loss\n").unwrap();
    assert_eq!(p.loss_percent, 0, "busybox wording");
    assert!(ping("PING 10.0.0.1").is_err());
    let e = encapsulation(&sample("ip-link-node1.txt")).unwrap();
    assert_eq!(e.mode, "none");
    assert_eq!(e.requires, vec!["tcp/179"]);
    // The requirements follow the observed mode (Calico's network requirements): VXLAN without
    // BIRD needs UDP/4789 and no BGP; with BIRD running, BGP too; IP-in-IP always needs BGP.
    let links = sample("ip-link-vxlan-node1.txt");
    let e = encapsulation(&links).unwrap();
    assert_eq!(
        (e.mode.as_str(), e.bird, e.bgp_required),
        ("vxlan", Some(false), false)
    );
    assert_eq!(e.requires, vec!["udp/4789"]);
    let e = encapsulation(&links.replace("bird not running", "bird running")).unwrap();
    assert_eq!(e.requires, vec!["tcp/179", "udp/4789"]);
    let ipip = links
        .replace("vxlan.calico:", "tunl0@NONE:")
        .replace("LOWER_UP> mtu 1450", "LOWER_UP> mtu 1480");
    let e = encapsulation(&ipip).unwrap();
    assert_eq!((e.mode.as_str(), e.bgp_required), ("ipip", true));
    assert_eq!(e.requires, vec!["tcp/179", "proto/4"]);
}

#[test]
fn openstack_and_kubernetes() {
    let rules = sg_rules(&sample("openstack-rule-list-long.json")).unwrap();
    assert!(rules
        .iter()
        .any(|r| r.port_min == Some(6443) && r.remote_group.is_some()));
    assert!(!rules.iter().any(|r| r.port_min == Some(179)));
    let groups = sg_list(&sample("openstack-sg-list.json")).unwrap();
    assert!(groups.iter().any(|g| g.name == "master"));
    let servers = servers(&sample("openstack-server-show.json")).unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0].groups, vec!["master"]);
    assert_eq!(servers[1].host.as_deref(), Some("server01"));
    let nodes = kube_nodes(&sample("kubectl-nodes.json")).unwrap();
    assert!(
        nodes.iter().all(|n| n.ready) && nodes[0].internal_ip.as_deref() == Some("192.168.222.222")
    );
    let pods = kube_pods(&sample("kubectl-pods.json")).unwrap();
    let shell1 = pods.iter().find(|p| p.name == "shell1").unwrap();
    assert_eq!(
        (shell1.node.as_deref(), shell1.ip.as_deref()),
        (Some("node1"), Some("10.233.96.3"))
    );
    let inv = inventory(&sample("kubespray-hosts.yaml")).unwrap();
    assert_eq!(inv[1].name, "node2");
    assert_eq!(inv[1].ansible_host.as_deref(), Some("10.20.20.206"));
}

#[test]
fn security_group_rules_of_every_client_version() {
    // 3.x, 5.2 (ussuri) and 5.5+ layouts: the same rules, read by column name.
    let old = sg_rules(&sample("openstack-rule-list-long.json")).unwrap();
    for f in [
        "openstack-rule-list-5.2.json",
        "openstack-rule-list-5.5.json",
    ] {
        let rules = sg_rules(&sample(f)).unwrap();
        assert_eq!(rules.len(), old.len() + 2, "{f}");
        assert_eq!(rules[..old.len()], old[..], "{f}");
        let ipip: Vec<_> = rules
            .iter()
            .filter(|r| r.protocol.as_deref() == Some("4"))
            .collect();
        assert_eq!(ipip.len(), 2, "{f}");
        assert!(ipip
            .iter()
            .all(|r| r.remote_group.is_some() && r.direction == "ingress"));
        let all = format!(
            "### rules\n{}\n### groups\n{}\n### servers\n{}",
            sample(f),
            sample("openstack-sg-list.json"),
            sample("openstack-server-show.json")
        );
        let sg = security_groups(&all).unwrap();
        assert!(sg.ipip_allowed_between_nodes, "{f}");
        assert!(!sg.bgp_allowed_between_nodes, "{f}");
    }
    // Without the protocol-4 rules, IP-in-IP is not allowed between the groups.
    let all = format!(
        "### rules\n{}\n### groups\n{}\n### servers\n{}",
        sample("openstack-rule-list-long.json"),
        sample("openstack-sg-list.json"),
        sample("openstack-server-show.json")
    );
    assert!(!security_groups(&all).unwrap().ipip_allowed_between_nodes);
    assert!(security_groups(&all).unwrap().stopped.is_empty());
    // The task's servers as it shows them: SHUTOFF.
    let off = all.replace("\"status\": \"ACTIVE\"", "\"status\": \"SHUTOFF\"");
    assert_eq!(
        security_groups(&off).unwrap().stopped,
        vec!["ictsc-master", "ictsc-worker"]
    );
}

#[test]
fn security_groups_between_the_nodes() {
    let all = format!(
        "### rules\n{}\n### groups\n{}\n### servers\n{}",
        sample("openstack-rule-list-long.json"),
        sample("openstack-sg-list.json"),
        sample("openstack-server-show.json")
    );
    let sg = security_groups(&all).unwrap();
    assert!(!sg.bgp_allowed_between_nodes);
    assert_eq!(
        sg.missing,
        vec![
            "tcp/179 into worker from master",
            "tcp/179 into master from worker"
        ]
    );
    assert!(sg.same_hypervisor && sg.wide_bgp_rules.is_empty());
    // With the two rules the fix adds, nothing is missing.
    let master = sg
        .groups
        .iter()
        .find(|g| g.name == "master")
        .unwrap()
        .id
        .clone();
    let worker = sg
        .groups
        .iter()
        .find(|g| g.name == "worker")
        .unwrap()
        .id
        .clone();
    let mut rules: Vec<serde_json::Value> =
        serde_json::from_str(&sample("openstack-rule-list-long.json")).unwrap();
    for (g, r) in [(&master, &worker), (&worker, &master)] {
        rules.push(serde_json::json!({"ID": format!("new-{g}"), "IP Protocol": "tcp", "IP Range": null, "Port Range": "179:179",
            "Direction": "ingress", "Ethertype": "IPv4", "Remote Security Group": r, "Security Group": g}));
    }
    let fixed = all.replace(
        &sample("openstack-rule-list-long.json"),
        &serde_json::to_string(&rules).unwrap(),
    );
    let sg = security_groups(&fixed).unwrap();
    assert!(sg.bgp_allowed_between_nodes, "{:?}", sg.missing);
    // A rule open to the world allows it too, and is reported as wider than needed.
    rules.truncate(rules.len() - 2);
    rules.push(serde_json::json!({"ID": "wide", "IP Protocol": "tcp", "IP Range": "0.0.0.0/0", "Port Range": "179:179",
        "Direction": "ingress", "Ethertype": "IPv4", "Remote Security Group": null, "Security Group": master}));
    let wide = all.replace(
        &sample("openstack-rule-list-long.json"),
        &serde_json::to_string(&rules).unwrap(),
    );
    let sg = security_groups(&wide).unwrap();
    assert_eq!(sg.missing, vec!["tcp/179 into worker from master"]);
    assert_eq!(sg.wide_bgp_rules, vec!["wide in master"]);
    assert!(security_groups("### rules\n[]").is_err());
}

#[test]
fn kubernetes_ports_judged_into_and_out_of_the_control_plane() {
    // The sample's groups let 6443 and 10250 in from each other (both ways).
    let all = format!(
        "### rules\n{}\n### groups\n{}\n### servers\n{}",
        sample("openstack-rule-list-5.2.json"),
        sample("openstack-sg-list.json"),
        sample("openstack-server-show.json")
    );
    assert_eq!(
        security_groups(&all).unwrap().k8s_allowed_between_nodes,
        None
    );
    let sg = security_groups_with(&all, Some("master")).unwrap();
    assert_eq!(
        sg.k8s_allowed_between_nodes,
        Some(true),
        "{:?}",
        sg.k8s_missing
    );
    // Without them: exactly the two directions Kubernetes needs are missing, no more.
    let rules: Vec<serde_json::Value> =
        serde_json::from_str(&sample("openstack-rule-list-5.2.json")).unwrap();
    let kept: Vec<&serde_json::Value> = rules
        .iter()
        .filter(|r| r["Port Range"] != "6443:6443" && r["Port Range"] != "10250:10250")
        .collect();
    let cut = all.replace(
        &sample("openstack-rule-list-5.2.json"),
        &serde_json::to_string(&kept).unwrap(),
    );
    let sg = security_groups_with(&cut, Some("master")).unwrap();
    assert_eq!(sg.k8s_allowed_between_nodes, Some(false));
    assert_eq!(
        sg.k8s_missing,
        vec![
            "tcp/6443 into master from worker",
            "tcp/10250 into worker from master"
        ]
    );
}

#[test]
fn sysctl_runtime_and_persisted() {
    let s = sysctl(
        "net.ipv4.ip_forward",
        "0\n/etc/sysctl.conf:#net.ipv4.ip_forward=1\n",
    )
    .unwrap();
    assert_eq!((s.runtime, s.persisted), (0, None));
    let s = sysctl("net.ipv4.ip_forward", "1\n/etc/sysctl.d/60-a.conf:net.ipv4.ip_forward = 1\n/etc/sysctl.d/99-b.conf:net/ipv4/ip_forward=0\n").unwrap();
    assert_eq!(
        (s.runtime, s.persisted, s.persisted_in.as_deref()),
        (1, Some(0), Some("/etc/sysctl.d/99-b.conf"))
    );
    assert!(sysctl(
        "net.ipv4.ip_forward",
        "sysctl: cannot stat /proc/sys/net/ipv4/ip_forward"
    )
    .is_err());
    // As a person types it: grep's lines, then sysctl's `KEY = VALUE`.
    let s = sysctl("net.ipv4.ip_forward", &sample("sysctl-grep.txt")).unwrap();
    assert_eq!((s.runtime, s.persisted), (0, None));
    let s = sysctl(
        "net.ipv4.ip_forward",
        "/etc/sysctl.d/99-ip-forward.conf:net.ipv4.ip_forward = 1\nnet.ipv4.ip_forward = 1\n",
    )
    .unwrap();
    assert_eq!(
        (s.runtime, s.persisted, s.persisted_in.as_deref()),
        (1, Some(1), Some("/etc/sysctl.d/99-ip-forward.conf"))
    );
    // Another key's line is not this key's value.
    assert!(sysctl("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding = 1\n").is_err());
}

#[test]
fn kubectl_get_nodes_table() {
    let nodes = kube_nodes(&sample("kubectl-nodes.txt")).unwrap();
    let got: Vec<(&str, bool)> = nodes.iter().map(|n| (n.name.as_str(), n.ready)).collect();
    assert_eq!(got, [("node1", true), ("node2", false)]);
    assert!(
        kube_nodes("NAME STATUS\nnode1\n").is_err(),
        "a cut row is an error"
    );
    assert!(
        kube_nodes("NAME AGE\nnode1 5m\n").is_err(),
        "no STATUS column"
    );
}

fn all_parsers(s: &str) {
    let _ = postmortem::probe::pmtu::pmtu(s);
    let _ = postmortem::probe::ippool::ippools(s);
    let _ = postmortem::probe::ports::ports(s);
    let _ = postmortem::probe::subnets::subnets(s);
    let _ = postmortem::probe::nft::firewall("10.20.20.0/24", s);
    let _ = sysctl("net.ipv4.ip_forward", s);
    let _ = apt_update(s);
    let _ = ansible(s);
    let _ = bgp(s);
    let _ = routes(s);
    let _ = ping(s);
    let _ = encapsulation(s);
    let _ = sg_rules(s);
    let _ = sg_list(s);
    let _ = servers(s);
    let _ = kube_nodes(s);
    let _ = kube_pods(s);
    let _ = inventory(s);
    let _ = security_groups(s);
}

#[test]
fn every_truncation_of_every_sample_parses_or_errs() {
    let dir = std::path::PathBuf::from(format!("{}/tests/samples", env!("CARGO_MANIFEST_DIR")));
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(p);
        }
    }
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        let mut cut = 0;
        while cut <= text.len() {
            if text.is_char_boundary(cut) {
                all_parsers(&text[..cut]);
            }
            cut += 7;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*") {
        all_parsers(&s);
    }

    /// Real nft JSON, cut anywhere and with any byte changed: an error or a judgement, no panic.
    #[test]
    fn damaged_nft_json_never_panics(cut in 0usize..2200, at in 0usize..2200, b in any::<u8>()) {
        let mut t = std::fs::read(format!(
            "{}/tests/samples/nft/forward-drop.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        if at < t.len() {
            t[at] = b;
        }
        t.truncate(cut.min(t.len()));
        let _ = postmortem::probe::nft::firewall("10.20.20.0/24", &String::from_utf8_lossy(&t));
    }

    #[test]
    fn table_like_text_never_panics(lines in proptest::collection::vec("[|+ a-zA-Z0-9:._=/-]{0,40}", 0..12)) {
        all_parsers(&lines.join("\n"));
    }
}

// --- nft -j list ruleset ----------------------------------------------------------------------

/// The probe's output: the default route (the uplink), then the ruleset's JSON.
fn nft(name: &str) -> postmortem::probe::nft::Firewall {
    let json = std::fs::read_to_string(format!(
        "{}/tests/samples/nft/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let text = format!("default via 198.51.100.1 dev uplink0 \n###\n{json}");
    postmortem::probe::nft::firewall("10.20.20.0/24", &text).unwrap()
}

#[test]
fn nft_microstack_masquerades_the_external_network_and_forwards_it() {
    let fw = nft("microstack");
    assert!(fw.masquerades_range);
    assert_eq!(
        fw.masquerade_rules,
        vec!["ip microstack-nat postrouting #2"]
    );
    assert!(
        !fw.forward_blocks_range,
        "no forward chain with policy drop"
    );
    assert!(fw.forward_drop_chains.is_empty());
}

#[test]
fn nft_without_masquerade_is_seen() {
    let fw = nft("no-nat");
    assert!(!fw.masquerades_range);
    assert_eq!(fw.nat_chains, vec!["ip microstack-nat postrouting"]);
}

#[test]
fn nft_forward_policy_drop_blocks_the_range_until_it_is_accepted() {
    // Docker's kind of host firewall: it accepts its own bridges, not the cloud's network.
    let fw = nft("forward-drop");
    assert!(fw.forward_blocks_range);
    assert_eq!(fw.forward_blocking, vec!["inet filter forward"]);
    assert!(fw.masquerades_range);
    // The same chain with the range accepted both ways; a NAT rule through a set that holds it.
    let fw = nft("forward-drop-fixed");
    assert_eq!(fw.forward_drop_chains, vec!["inet filter forward"]);
    assert!(!fw.forward_blocks_range, "{fw:?}");
    assert!(fw.masquerades_range, "a set holding the range: {fw:?}");
}

#[test]
fn nft_bad_input_is_an_error_not_a_judgement() {
    use postmortem::probe::nft::firewall;
    assert!(firewall("10.20.20.0/24", "Error: Could not process rule").is_err());
    assert!(firewall("10.20.20.0/24", "{\"x\": 1}").is_err());
    assert!(firewall("not a prefix", "{\"nftables\": []}").is_err());
    let empty = firewall("10.20.20.0/24", "{\"nftables\": []}").unwrap();
    assert!(!empty.masquerades_range && !empty.forward_blocks_range);
}

// --- the tunnel_mtu probe -----------------------------------------------------------------------

#[test]
fn pmtu_a_tunnel_that_does_not_fit_loses_its_full_size_pings() {
    use postmortem::probe::pmtu::pmtu;
    let p = pmtu(&sample("pmtu-mismatch.txt")).unwrap();
    assert_eq!(
        (p.tunnel.as_str(), p.tunnel_mtu, p.underlay_mtu),
        ("tunl0", 1480, 1450)
    );
    assert!(!p.fits);
    assert_eq!(p.fitting_mtu, 1430);
    assert!(!p.df_ok && p.small_ok && p.only_large_lost);
    assert_eq!(p.targets.len(), 1);
    assert_eq!((p.targets[0].sent, p.targets[0].received), (2, 0));
    assert_eq!(p.targets[0].small_received, 2);
    let p = pmtu(&sample("pmtu-fits.txt")).unwrap();
    assert!(p.fits && p.df_ok && !p.only_large_lost, "{p:?}");
    assert_eq!(p.tunnel_mtu, 1430);
    // No route through the tunnel: nothing was shown to pass.
    let p = pmtu("tunnel tunl0 1480\nunderlay ens3 1500\n").unwrap();
    assert!(p.fits && !p.df_ok && !p.only_large_lost);
    // Everything lost (no BGP, a blocked protocol): not the MTU's symptom.
    let p = pmtu("tunnel tunl0 1480\nunderlay ens3 1500\ntarget 10.233.92.0\nsmall 2 packets transmitted, 0 received, 100% packet loss, time 1001ms\nfull 2 packets transmitted, 0 received, 100% packet loss, time 1013ms\n").unwrap();
    assert!(!p.small_ok && !p.df_ok && !p.only_large_lost);
    assert_eq!(
        p.peers, None,
        "output from before the sample names no peers"
    );
    let p = pmtu("tunnel tunl0 1480\nunderlay ens3 1500\ntarget 10.233.92.0\nsmall 2 packets transmitted, 2 received, 0% packet loss, time 201ms\nfull 2 packets transmitted, 2 received, 0% packet loss, time 203ms\npeers 31, sampled 1\n").unwrap();
    assert_eq!((p.peers, p.targets.len(), p.df_ok), (Some(31), 1, true));
    assert!(pmtu("no tunl0 (Calico is not running here)\n").is_err());
    assert!(
        pmtu("tunnel gre0 1476\nunderlay ens3 1500\n").is_err(),
        "an unknown tunnel"
    );
}

// --- calicoctl get ippool -o wide ---------------------------------------------------------------

#[test]
fn ippool_columns_of_both_layouts_and_nat_outgoing() {
    use postmortem::probe::ippool::ippools;
    // 3.17's seven columns, and 3.18's eight (DISABLEBGPEXPORT) as kubespray's VXLAN pool prints.
    let p = ippools(&sample("calicoctl-ippool-wide-3.17.txt")).unwrap();
    assert_eq!(p.pools.len(), 1);
    assert_eq!(
        (
            p.pools[0].name.as_str(),
            p.pools[0].cidr.as_str(),
            p.pools[0].ipip_mode.as_str()
        ),
        ("default-ipv4-ippool", "10.244.0.0/16", "Always")
    );
    assert!(p.nat_outgoing_all && p.without_nat.is_empty());
    let p = ippools(&sample("calicoctl-ippool-wide-kubespray-vxlan.txt")).unwrap();
    assert_eq!(
        (
            p.pools[0].name.as_str(),
            p.pools[0].ipip_mode.as_str(),
            p.pools[0].vxlan_mode.as_str()
        ),
        ("default-pool", "Never", "Always")
    );
    assert!(p.nat_outgoing_all && !p.pools[0].disabled);
    let p = ippools(&sample("calicoctl-ippool-wide-no-nat.txt")).unwrap();
    assert!(!p.nat_outgoing_all);
    assert_eq!(p.without_nat, vec!["default-pool"]);
    // A disabled pool without NAT assigns no address: it does not count.
    let t = "NAME CIDR NAT IPIPMODE VXLANMODE DISABLED SELECTOR\na 10.1.0.0/16 true Always Never false all()\nold 10.2.0.0/16 false Never Never true all()\n";
    let p = ippools(t).unwrap();
    assert!(p.nat_outgoing_all, "{p:?}");
}

#[test]
fn ippool_other_output_is_an_error_not_a_judgement() {
    use postmortem::probe::ippool::ippools;
    // Without -o wide there is no NAT column; an error, a short row or a bad flag neither.
    assert!(ippools(
        "NAME           CIDR             SELECTOR\ndefault-pool   10.233.64.0/18   all()\n"
    )
    .unwrap_err()
    .contains("no column NAT"));
    assert!(ippools("").is_err());
    assert!(ippools("Failed to get resources: connection refused").is_err());
    let head = "NAME CIDR NAT IPIPMODE VXLANMODE DISABLED SELECTOR\n";
    assert!(ippools(&format!("{head}p 10.1.0.0/16 true\n")).is_err());
    assert!(ippools(&format!(
        "{head}p 10.1.0.0/16 maybe Always Never false all()\n"
    ))
    .is_err());
    // No pool at all masquerades nothing.
    assert!(!ippools(head).unwrap().nat_outgoing_all);
}

// --- openstack port show -f json, per server ---------------------------------------------------

#[test]
fn ports_without_allowed_address_pairs_are_named() {
    use postmortem::probe::ports::ports;
    let p = ports(&sample("openstack-port-show-lab.txt")).unwrap();
    assert_eq!(p.ports.len(), 2);
    assert_eq!(p.ports[0].server, "ictsc-master");
    assert_eq!(p.ports[0].fixed_ips, vec!["192.168.222.222"]);
    assert!(p
        .ports
        .iter()
        .all(|p| p.port_security && p.allowed.is_empty()));
    assert_eq!(
        p.without_pairs,
        p.ports.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
    );
    // Pairs present, or port security off: nothing is dropped for want of a pair.
    let p = ports(&sample("openstack-port-show-pairs.txt")).unwrap();
    assert_eq!(p.ports[0].allowed, vec!["10.233.64.0/18", "10.233.0.0/18"]);
    assert!(!p.ports[1].port_security);
    assert!(p.without_pairs.is_empty(), "{p:?}");
}

#[test]
fn ports_bad_output_is_an_error_naming_the_server() {
    use postmortem::probe::ports::ports;
    assert!(ports("").is_err());
    let e = ports("### ictsc-master\nNo Port found for x\n").unwrap_err();
    assert!(e.contains("ictsc-master"), "{e}");
    let e = ports("### a\n{\"allowed_address_pairs\": 3, \"id\": \"p\"}\n").unwrap_err();
    assert!(e.contains("not a list"), "{e}");
}

// --- server01's resolvers and the subnets (openstack subnet show -f json) -------------------------

#[test]
fn subnets_with_dhcp_and_no_dns_server_are_named() {
    use postmortem::probe::subnets::subnets;
    let s = subnets(&sample("subnets-lab-vm-dns.txt")).unwrap();
    assert_eq!(s.hypervisor_nameservers, vec!["10.20.20.1"]);
    assert_eq!(s.subnets.len(), 2);
    // The external subnet has no DHCP: no lease to give a resolver, nothing missing.
    assert_eq!(s.without_dns, vec!["test"]);
    let s = subnets(&sample("subnets-api-example.txt")).unwrap();
    assert_eq!(s.hypervisor_nameservers, vec!["127.0.0.53"]);
    assert_eq!(s.subnets[1].dns_nameservers, vec!["8.8.8.8"]);
    assert_eq!(s.without_dns, vec![""], "the unnamed one");
    // A table-formatting client's string of servers reads the same.
    let t = "### subnet\n{\"id\": \"i\", \"name\": \"n\", \"cidr\": \"10.0.0.0/24\", \"dns_nameservers\": \"1.1.1.1, 8.8.8.8\"}\n";
    assert_eq!(
        subnets(t).unwrap().subnets[0].dns_nameservers,
        vec!["1.1.1.1", "8.8.8.8"]
    );
}

#[test]
fn subnets_bad_output_is_an_error() {
    use postmortem::probe::subnets::subnets;
    assert!(subnets("").is_err());
    assert!(subnets("### subnet\nNo Subnet found for x\n").is_err());
    assert!(subnets("### subnet\n{\"id\": \"i\"}\n")
        .unwrap_err()
        .contains("without name"));
    assert!(subnets("### other\nx\n").is_err());
}

// --- python-openstackclient 5.2.0 as it prints (tests/samples/osc-5.2) ----------------------------

/// A captured command's stdout or stderr (tests/samples/osc-5.2/*.txt: the command, its stdout,
/// its stderr, its exit status).
fn osc(name: &str, part: &str) -> String {
    let t = sample(&format!("osc-5.2/{name}.txt"));
    let (_, rest) = t.split_once("--- stdout ---\n").unwrap();
    let (out, rest) = rest.split_once("--- stderr ---\n").unwrap();
    let (err, _) = rest.split_once("--- exit ").unwrap();
    match part {
        "stdout" => out.to_string(),
        _ => err.to_string(),
    }
}

/// The probes' parsers on what the real client of microstack's release prints: the security
/// groups probe (rule list --long, security group list, server show, all -f json), the ports and
/// subnets probes, the rule id a create prints, and the rule a refused duplicate names.
#[test]
fn python_openstackclient_5_2_as_it_prints() {
    assert_eq!(osc("00-version", "stdout").trim(), "openstack 5.2.0");
    // Only the master's `server show` was captured: the worker's is the same object with its
    // own name, group and address (the probe prints one object per server, one after the other).
    let master = osc("03-server-show-master-json", "stdout");
    let worker = master
        .replace("ictsc-master", "ictsc-worker")
        .replace("name='master'", "name='worker'")
        .replace("192.168.222.222", "192.168.222.157");
    let all = format!(
        "### rules\n{}\n### groups\n{}\n### servers\n{master}{worker}",
        osc("10-sgr-list-long-json", "stdout"),
        osc("07-sg-list-json", "stdout"),
    );
    let sg = security_groups(&all).unwrap();
    let names: Vec<&str> = sg.groups.iter().map(|g| g.name.as_str()).collect();
    assert!(
        names.contains(&"master") && names.contains(&"worker"),
        "{names:?}"
    );
    // Captured before the BGP rules were created: TCP/179 is missing both ways, and the real
    // client's 0.0.0.0/0 beside a remote group is not taken for a rule open to the world.
    assert!(!sg.bgp_allowed_between_nodes);
    assert_eq!(
        sg.missing,
        vec![
            "tcp/179 into worker from master",
            "tcp/179 into master from worker"
        ]
    );
    assert!(sg.wide_bgp_rules.is_empty(), "{:?}", sg.wide_bgp_rules);
    assert!(sg.ipip_allowed_between_nodes);
    assert_eq!(sg.stopped, vec!["ictsc-master", "ictsc-worker"]);
    let s = servers(&osc("03-server-show-master-json", "stdout")).unwrap();
    assert_eq!(s[0].groups, vec!["master"]);
    assert_eq!(s[0].addresses, "test=192.168.222.222");
    // Every rule of the real listing reads: protocol "any" is JSON null, IP-in-IP is "4".
    let rules = sg_rules(&osc("10-sgr-list-long-json", "stdout")).unwrap();
    assert!(rules.iter().any(|r| r.protocol.is_none()));
    assert!(rules.iter().any(|r| r.protocol.as_deref() == Some("4")));
    assert!(rules.iter().any(|r| r.direction == "egress"));

    use postmortem::probe::{osc_table, ports::ports, subnets::subnets};
    // The probes as they run in the lab, the real client against the lab's API: the ports of
    // every server shown by one client in interactive mode, named by their device_id, and the
    // servers' shows the same way.
    let p = ports(&osc("21-lab-ports-probe", "stdout")).unwrap();
    let by: Vec<(&str, &str)> = p
        .ports
        .iter()
        .map(|p| (p.server.as_str(), p.fixed_ips[0].as_str()))
        .collect();
    assert_eq!(
        by,
        vec![
            ("ictsc-master", "192.168.222.222"),
            ("ictsc-worker", "192.168.222.157")
        ]
    );
    assert_eq!(p.without_pairs.len(), 2);
    let sg = security_groups(&osc("22-lab-security-groups-probe", "stdout")).unwrap();
    assert_eq!(sg.stopped, Vec::<String>::new());
    // Captured on the lab with the contest's faults: TCP/179 missing both ways, IP-in-IP allowed.
    assert!(!sg.bgp_allowed_between_nodes && sg.ipip_allowed_between_nodes);
    assert_eq!(
        sg.missing,
        vec![
            "tcp/179 into worker from master",
            "tcp/179 into master from worker"
        ]
    );
    // The probe as it runs now, all in one client (markers by cmd2's `shell`): the servers
    // listed (--long: status, host) and their ports listed (--long: each port's groups): the
    // same judgement as the servers shown one by one, on the same lab state.
    let lists = osc("25-lab-security-groups-probe-lists", "stdout");
    let sg2 = security_groups(&lists).unwrap();
    assert_eq!(sg2.missing, sg.missing);
    assert!(!sg2.bgp_allowed_between_nodes && sg2.ipip_allowed_between_nodes);
    let groups: Vec<(&str, &[String])> = sg2
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.groups.as_slice()))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("ictsc-master", &["master".to_string()][..]),
            ("ictsc-worker", &["worker".to_string()][..])
        ]
    );
    assert!(sg2.same_hypervisor && sg2.stopped.is_empty());
    // Without its ports the listed servers' groups are unknown: an error, not "no groups".
    let cut = &lists[..lists.find("### ports").unwrap()];
    assert!(security_groups(cut)
        .unwrap_err()
        .contains("no ### ports section"));
    // A port's groups are its server's; a server without a port of its addresses has none.
    let one_port = lists.replace("192.168.222.157\"", "192.168.222.99\"");
    let sg3 = security_groups(&one_port).unwrap();
    assert!(sg3.servers[1].groups.is_empty(), "{:?}", sg3.servers[1]);
    // The ports probe in one client (markers by `shell`, the IDs fed by a second client).
    let p = ports(&osc("26-lab-ports-probe-one-client", "stdout")).unwrap();
    assert_eq!(p.ports.len(), 2);
    assert_eq!(p.ports[0].server, "ictsc-master");
    // Both subnets shown by one client after one header: the tenant's without DNS (vm-dns).
    let s = subnets(&osc("24-lab-subnets-probe", "stdout")).unwrap();
    assert_eq!(s.subnets.len(), 2);
    assert_eq!(s.without_dns, vec!["test"]);
    assert_eq!(s.hypervisor_nameservers, vec!["10.20.20.1"]);
    assert!(osc("23b-lab-port-unset-without-mac", "stderr")
        .contains("Port does not contain allowed-address-pair"));
    let p = ports(&format!(
        "### ictsc-master\n{}",
        osc("15-port-show-json", "stdout")
    ))
    .unwrap();
    assert_eq!(p.ports[0].fixed_ips, vec!["192.168.222.222"]);
    assert!(p.ports[0].port_security && p.ports[0].allowed.is_empty());
    let s = subnets(&format!(
        "### resolv.conf\nnameserver 10.20.20.1\n### subnet\n{}",
        osc("17-subnet-show-json", "stdout")
    ))
    .unwrap();
    assert_eq!(s.without_dns, vec!["test-subnet"]);

    let create = osc("12-sgr-create-bgp-first", "stdout");
    assert_eq!(
        osc_table::show_field(&create, "id").as_deref(),
        Some("b9561aa9-9f11-5c50-8bc8-5c9ea0908a12")
    );
    assert_eq!(
        osc_table::show_field(&create, "port_range_min").as_deref(),
        Some("179")
    );
    let dup = osc("13-sgr-create-bgp-duplicate", "stderr");
    assert_eq!(
        osc_table::conflicting_rule(&dup).as_deref(),
        Some("b9561aa9-9f11-5c50-8bc8-5c9ea0908a12")
    );
    assert_eq!(
        osc_table::conflicting_rule(&osc("05b-server-start-again-409", "stderr")),
        None
    );
    assert_eq!(osc_table::conflicting_rule(""), None);
    assert!(osc_table::start_refused_running(&osc(
        "05b-server-start-again-409",
        "stderr"
    )));
    assert!(!osc_table::start_refused_running(&osc(
        "19-wrong-password-401",
        "stderr"
    )));
    assert!(!osc_table::start_refused_running(&dup));
    // The server list's table, read by its header.
    let (head, rows) = osc_table::table(&osc("01-server-list", "stdout")).unwrap();
    assert_eq!(head[0], "ID");
    assert!(head.contains(&"Status".to_string()) && rows.len() == 2);
}
