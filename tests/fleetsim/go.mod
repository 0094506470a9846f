module leakhound.test/fleetsim

go 1.21
