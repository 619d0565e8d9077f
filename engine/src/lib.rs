//! AlexStorage: the storage engine (work in progress).
