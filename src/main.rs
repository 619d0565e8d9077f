fn main() {
    println!("alexdb");
}
