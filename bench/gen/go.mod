module leakhound.bench/gen

go 1.22
