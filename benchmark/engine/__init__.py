"""Running benchmarks: run request -> plan -> jobs -> executors (local, Ray); the feature cache; result files;
prefetching and the Hub."""
