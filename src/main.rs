fn main() {
    println!("signalbox: the engine is being built; see README.md");
}
