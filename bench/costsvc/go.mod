module leakhound.bench/costsvc

go 1.22
