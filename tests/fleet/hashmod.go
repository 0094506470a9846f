// hashmod prints, for each address on the command line, its shard modulo each of -moduli the way
// Prometheus' relabel action `hashmod` computes it (model/relabel/relabel.go):
//
//	hash := md5.Sum([]byte(val))
//	mod := binary.BigEndian.Uint64(hash[8:]) % cfg.Modulus
//
// One line per address: ADDRESS M1 M2 ... (the shard for each modulus).
package main

import (
	"crypto/md5"
	"encoding/binary"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

func main() {
	moduli := flag.String("moduli", "2,3,7,10", "comma-separated moduli")
	flag.Parse()
	var ms []uint64
	for _, m := range strings.Split(*moduli, ",") {
		n, err := strconv.ParseUint(m, 10, 64)
		if err != nil || n == 0 {
			panic("bad modulus " + m)
		}
		ms = append(ms, n)
	}
	for _, addr := range flag.Args() {
		hash := md5.Sum([]byte(addr))
		v := binary.BigEndian.Uint64(hash[8:])
		fmt.Print(addr)
		for _, m := range ms {
			fmt.Printf(" %d", v%m)
		}
		fmt.Println()
	}
}
