module leakhound.test/goservice

go 1.19
