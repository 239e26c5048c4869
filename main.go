// Command sselog is a durable Server-Sent Events server.
package main

func main() {}
