//! `kontakt`: the command line of the Contact Center request system.
fn main() {
    eprintln!("the server arrives with the GraphQL API; run `make test` for the core");
}
