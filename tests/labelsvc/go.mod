module leakhound.test/labelsvc

go 1.27
