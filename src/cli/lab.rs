//! `lab`: build, inspect and remove the built-in lab.

use super::*;

pub(super) fn lab_command(command: LabCommand) -> Result<i32> {
    use crate::lab;
    match command {
        LabCommand::Up {
            faults,
            nodes,
            deployed,
            sudo_password,
            calico,
        } => {
            let faults = lab::parse_faults(&faults)?;
            let t0 = std::time::Instant::now();
            let options = lab::Options {
                faults: faults.clone(),
                nodes,
                deployed,
                sudo_password,
                calico,
            };
            if lab::up(&options)? {
                eprintln!("postmortem: removed the leftovers of an earlier lab first");
            }
            eprintln!(
                "postmortem: lab up in {:.1} s with faults: {}",
                t0.elapsed().as_secs_f64(),
                if faults.is_empty() {
                    "none".to_string()
                } else {
                    faults.join(", ")
                }
            );
            for line in lab::status() {
                println!("{line}");
            }
            Ok(0)
        }
        LabCommand::Down => {
            lab::down()?;
            Ok(0)
        }
        LabCommand::Status => {
            let lines = lab::status();
            if lines.is_empty() {
                println!("no lab");
            }
            for line in lines {
                println!("{line}");
            }
            Ok(0)
        }
        LabCommand::Exec { host, argv } => {
            lab::preflight()?;
            let status = lab::exec_command(&host, &argv)?
                .status()
                .context("cannot run nsenter")?;
            Ok(status.code().unwrap_or(1))
        }
        LabCommand::Reboot { host } => {
            lab::preflight()?;
            lab::reboot(&host)?;
            Ok(0)
        }
        LabCommand::Env => {
            let d = lab::dir();
            println!("LAB_DIR={}", d.display());
            println!("SSH_CONFIG={}", d.join("ssh_config").display());
            println!("IDENTITY={}", d.join("keys/ictsc_rsa").display());
            println!("KNOWN_HOSTS={}", d.join("known_hosts").display());
            println!("INVENTORY=server01:/home/user/kubespray/inventory/mycluster/hosts.yaml");
            println!("OPERATOR=ip netns exec pm-operator");
            if let Some(pw) = lab::sudo_password() {
                println!("SUDO_PASSWORD={pw}");
            }
            Ok(0)
        }
    }
}

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Lab { command } => lab_command(command),
        _ => unreachable!("dispatched by its variant"),
    }
}
