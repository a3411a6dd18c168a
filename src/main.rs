fn main() {
    std::process::exit(postmortem::cli::main());
}
