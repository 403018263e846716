namespace BottleneckPipeline.Bench;

/// <summary>One area of `make bench`. Each is found by reflection and run in name order; a failure in
/// one is recorded and the others still run.</summary>
public interface IBenchmark
{
    /// <summary>Short area name: ingest, extract, cache, train-head, ...</summary>
    string Name { get; }

    void Run(BenchContext context);
}
