package floating

func init() {
	// Cheap password hashing in tests: the parameters are not what is
	// tested.
	argonTime, argonMemory = 1, 1024
}
