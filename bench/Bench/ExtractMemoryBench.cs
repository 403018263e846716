using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Extract's memory: the same 300 flowers through Extract's pipeline, in a fresh child process whose
/// peak RSS /usr/bin/time reads, twice (best rate, highest peak). Extract's lanes share one ONNX
/// Runtime session, so the weights and the arena exist once; the goal is a peak under 500 MB.
/// </summary>
public sealed class ExtractMemoryBench : IBenchmark
{
    public string Name => "extract-memory";

    /// <summary>The child's entry: `Bench extract-probe DATASET CACHEDIR` prints "rate=N".</summary>
    public const string ProbeVerb = "extract-probe";

    public void Run(BenchContext ctx)
    {
        var dataset = ExtractBench.Subset(ctx, ctx.Quick ? 12 : 60);
        var root = Path.Combine(ctx.WorkDir, "extract-memory");
        var bench = Path.Combine(ctx.RepoRoot, ".artifacts", "bin", "Bench", "release", "Bench");
        var (bestRate, peakRss) = (0.0, 0.0);
        for (var round = 0; round < 2; round++)
        {
            var cache = Path.Combine(root, "cache");
            if (Directory.Exists(cache)) Directory.Delete(cache, recursive: true);
            var r = BenchContext.RunProcess(bench, $"{ProbeVerb} {dataset} {cache}");
            ExtractBench.Check(r, "extract probe");
            var line = r.Output.Split('\n').Last(l => l.StartsWith("rate=", StringComparison.Ordinal));
            bestRate = Math.Max(bestRate, double.Parse(line[5..], CultureInfo.InvariantCulture));
            peakRss = Math.Max(peakRss, r.PeakRssMb);
        }
        ctx.Record(Name, "Extract pipeline, 300 flowers: img/s", bestRate, "img/s", "best of 2 runs, each in a fresh process");
        ctx.Record(Name, "Extract pipeline, 300 flowers: peak RSS", peakRss, "MB", "highest of 2 runs (goal < 500 MB)");
    }

    /// <summary>Runs Extract's pipeline in this process on every JPEG under <paramref name="dataset"/>, at the default settings.</summary>
    public static int Probe(string dataset, string cacheDir)
    {
        var config = new PipelineConfig { Dataset = { Root = dataset } };
        var spec = BackboneFactory.Resolve(config);
        var work = Directory.GetFiles(dataset, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => new ImageWork(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))), f, f)).ToList();
        using var lanes = BackboneSession.CreateLanes(spec, config.Extract);
        var pipeline = ExtractPipeline.For(spec, lanes, config);
        using var writer = new CacheWriter(cacheDir, spec.Fingerprint, config.Cache.Precision);
        var sw = Stopwatch.StartNew();
        var outcome = pipeline.Run(work, writer, null, null, CancellationToken.None);
        Console.WriteLine(FormattableString.Invariant($"rate={outcome.Extracted / sw.Elapsed.TotalSeconds}"));
        return outcome.Extracted == work.Count ? 0 : 1;
    }
}
