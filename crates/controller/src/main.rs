use clap::Parser;

mod crd;

#[derive(Parser)]
#[command(name = "zeroetl-operator", version, about = "Kubernetes operator for AWS zero-ETL integrations and Redshift connections")]
enum Cli {
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
}

fn main() {
    match Cli::parse() {
        Cli::Crd => print!("{}", crd::render()),
    }
}
