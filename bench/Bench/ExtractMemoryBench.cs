using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Issue 12, part 3: Extract's memory. The same 300 flowers through Extract's pipeline with its
/// lanes laid out two ways, each in a fresh child process whose peak RSS is read by /usr/bin/time,
/// alternated twice (the machine is shared): a session per lane (before) and one session run by
/// every lane (now). Speed and memory side by side, from this run.
/// </summary>
public sealed class ExtractMemoryBench : IBenchmark
{
    public string Name => "extract-memory";

    /// <summary>The child's entry: `Bench extract-probe LAYOUT DATASET CACHEDIR` prints "rate=N".</summary>
    public const string ProbeVerb = "extract-probe";

    public void Run(BenchContext ctx)
    {
        var dataset = ExtractBench.Subset(ctx, ctx.Quick ? 12 : 60);
        var root = Path.Combine(ctx.WorkDir, "extract-memory");
        var bench = Path.Combine(ctx.RepoRoot, ".artifacts", "bin", "Bench", "release", "Bench");
        var best = new Dictionary<LaneLayout, (double Rate, double Rss)>();
        for (var round = 0; round < 2; round++)
        {
            foreach (var layout in new[] { LaneLayout.SessionPerLane, LaneLayout.SharedSession })
            {
                var cache = Path.Combine(root, "cache");
                if (Directory.Exists(cache)) Directory.Delete(cache, recursive: true);
                var r = BenchContext.RunProcess(bench, $"{ProbeVerb} {layout} {dataset} {cache}");
                ExtractBench.Check(r, $"extract probe {layout}");
                var line = r.Output.Split('\n').Last(l => l.StartsWith("rate=", StringComparison.Ordinal));
                var rate = double.Parse(line[5..], CultureInfo.InvariantCulture);
                var (oldRate, oldRss) = best.GetValueOrDefault(layout);
                best[layout] = (Math.Max(oldRate, rate), Math.Max(oldRss, r.PeakRssMb));
            }
        }
        var before = best[LaneLayout.SessionPerLane];
        var now = best[LaneLayout.SharedSession];
        ctx.Record(Name, "Extract pipeline, a session per lane (before): img/s", before.Rate, "img/s", $"peak RSS {before.Rss:0} MB; best of 2, alternated");
        ctx.Record(Name, "Extract pipeline, one session for every lane (default): img/s", now.Rate, "img/s", $"{now.Rate / before.Rate:0.00}x a session per lane");
        ctx.Record(Name, "peak RSS, a session per lane (before)", before.Rss, "MB", "highest of 2 runs");
        ctx.Record(Name, "peak RSS, one session for every lane (default)", now.Rss, "MB", $"{now.Rss - before.Rss:+0;-0} MB against a session per lane (goal < 500 MB)");
    }

    /// <summary>Runs Extract's pipeline in this process on every JPEG under <paramref name="dataset"/>, at the default settings.</summary>
    public static int Probe(string layout, string dataset, string cacheDir)
    {
        var config = new PipelineConfig { Dataset = { Root = dataset } };
        var spec = BackboneFactory.Resolve(config);
        var work = Directory.GetFiles(dataset, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => new ImageWork(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))), f, f)).ToList();
        using var lanes = BackboneSession.CreateLanes(spec, config.Extract, Enum.Parse<LaneLayout>(layout));
        var pipeline = ExtractPipeline.For(spec, lanes, config);
        using var writer = new CacheWriter(cacheDir, spec.Fingerprint, config.Cache.Precision);
        var sw = Stopwatch.StartNew();
        var outcome = pipeline.Run(work, writer, null, null, CancellationToken.None);
        Console.WriteLine(FormattableString.Invariant($"rate={outcome.Extracted / sw.Elapsed.TotalSeconds}"));
        return outcome.Extracted == work.Count ? 0 : 1;
    }
}
