using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Bench;

/// <summary>
/// TrainHead beyond the flowers: the built TrainHead executable on 1 million synthetic 512-d
/// vectors in the cache (float32 on disk, 2 GB; 5 classes; split 8:1:1 like the flowers), timed
/// with its peak RSS against the goal of 2 GB. Past <see cref="SplitVectors.Float32Budget"/> it holds
/// the vectors as float16; the flowers' test accuracy with float16 in memory is set beside float32.
/// </summary>
public sealed class TrainHeadMillionBench : IBenchmark
{
    private const int Count = 1_000_000;
    private const int Dim = 512;
    private const int Classes = 5;
    private const double RssGoalMb = 2048;

    public string Name => "train-head-1m";

    public void Run(BenchContext context)
    {
        var count = context.Quick ? 100_000 : Count;
        var dir = Path.Combine(context.WorkDir, Name);
        var configPath = Path.Combine(dir, "pipeline.yaml");
        var config = Prepare(dir, configPath, count);
        // Its head is up to date after a first run: time a real training every time.
        File.Delete(ArtifactPaths.Head(config));

        var (seconds, output, rss, code) = BenchContext.RunProcess(context.StageBin("TrainHead"), $"--config \"{configPath}\"");
        if (code != 0) throw new InvalidOperationException($"TrainHead on {count} vectors exited {code}: {output}");
        var held = (long)(count * 9 / 10) * Dim * 4 > SplitVectors.Float32Budget ? "float16" : "float32";
        context.Note(Name, $"{count} synthetic {Dim}-d vectors, {Classes} classes, float32 in the cache; TrainHead held train + validation as {held}; " +
                           $"{output.Trim().Split('\n').Last().Split("; head ")[0]}");
        context.Record(Name, $"TrainHead on {count} x {Dim} vectors (process)", seconds, "s");
        context.Record(Name, $"TrainHead peak RSS at {count} vectors", rss, "MB",
            $"{(rss < RssGoalMb ? "meets" : "MISSES")} the goal of under {RssGoalMb:0} MB ({rss / RssGoalMb:0.00}x)");

        // What the finishing Extract and TrainHead read at this size: every record, keys only.
        var heldBefore = GC.GetTotalMemory(forceFullCollection: true);
        var scan = System.Diagnostics.Stopwatch.StartNew();
        var keys = BottleneckCache.Open(config.CacheDir, ExtractReport.Read(config).Fingerprint, loadVectors: false);
        scan.Stop();
        var keyBytes = (double)(GC.GetTotalMemory(forceFullCollection: true) - heldBefore) / keys.Count;
        var cacheBytes = Directory.GetFiles(keys.Folder, "*.bpv").Sum(f => new FileInfo(f).Length);
        context.Record(Name, $"cache keys-only scan, {keys.Count} vectors", scan.Elapsed.TotalSeconds, "s",
            $"{cacheBytes / scan.Elapsed.TotalSeconds / 1e6:0} MB/s; the finishing Extract's check");
        context.Record(Name, "cache bytes per 512-d float32 vector", (double)cacheBytes / keys.Count, "B");
        context.Record(Name, "memory per id of a keys-only cache", keyBytes, "B", "what the finishing Extract holds per image");
        context.Record(Name, "index bytes per example (examples table only)", (double)new FileInfo(config.IndexPath).Length / count, "B");

        // Accuracy on real vectors, float16 against float32 in memory: same splits, config and seed.
        var flowers = ConfigLoader.Load(HeadVsMlNetBench.ExtractedFlowers(context));
        var fingerprint = ExtractReport.Read(flowers).Fingerprint;
        using var db = IndexDb.Open(flowers.IndexPath, create: false);
        context.Record(Name, "flowers index bytes per image (all tables)",
            (double)new FileInfo(flowers.IndexPath).Length / Convert.ToInt64(db.Scalar("SELECT COUNT(*) FROM files;")), "B");
        string[] splits = ["train", "validation", "test"];
        var exact = new SplitVectors(flowers, db, fingerprint).Load(splits);
        var half = new SplitVectors(flowers, db, fingerprint) { MaxFloat32Bytes = 0 }.Load(splits);
        var a32 = HeadTrainer.Train(exact[0], exact[1], flowers.TrainHead).Head.Accuracy(exact[2]);
        var a16 = HeadTrainer.Train(half[0], half[1], flowers.TrainHead).Head.Accuracy(half[2]);
        context.Record(Name, $"flowers test accuracy, float16 in memory ({exact[2].Count} test images)", a16 * 100, "%",
            $"float32 in memory {a32 * 100:0.0}% ({(int)Math.Round((a16 - a32) * exact[2].Count):+0;-0;0} images)");
    }

    /// <summary>The index, the cache and extract.json for count synthetic vectors; reused when complete.</summary>
    private static PipelineConfig Prepare(string dir, string configPath, int count)
    {
        var done = Path.Combine(dir, $".complete-{count}");
        Directory.CreateDirectory(dir);
        // An empty dataset folder of its own: TrainHead reads only the index and the cache.
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        File.WriteAllText(configPath, $"dataset:\n  root: {dir}/data\nworkspace: {dir}/workspace\ncache:\n  dir: {dir}/cache\n");
        var config = ConfigLoader.Load(configPath);
        if (File.Exists(done)) return config;
        if (Directory.Exists(config.Workspace)) Directory.Delete(config.Workspace, recursive: true);
        if (Directory.Exists(config.CacheDir)) Directory.Delete(config.CacheDir, recursive: true);

        // Non-negative, overlapping classes, like ResNet's pooled features (see TrainHeadBench).
        var random = new Random(20261129);
        var shared = Enumerable.Range(0, Dim).Select(_ => random.NextDouble() * 2).ToArray();
        var profiles = Enumerable.Range(0, Classes)
            .Select(_ => shared.Select(s => (float)(s * Math.Exp(0.25 * (random.NextDouble() - 0.5)))).ToArray())
            .ToArray();
        const string fingerprint = "synthetic-1m-512";
        using (var db = IndexDb.Open(config.IndexPath))
        using (var writer = new CacheWriter(config.CacheDir, fingerprint, VectorPrecision.Float32))
        {
            using var tx = db.Begin();
            for (var c = 0; c < Classes; c++) db.Exec($"INSERT INTO classes(label_id, name) VALUES ({c}, 'class{c}');", tx);
            using var insert = db.Command("INSERT INTO examples(content_id, class, split, rel_path) VALUES ($id, $c, $s, $p);", tx);
            var (pid, pc, ps, pp) = (
                insert.Parameters.Add("$id", Microsoft.Data.Sqlite.SqliteType.Text),
                insert.Parameters.Add("$c", Microsoft.Data.Sqlite.SqliteType.Text),
                insert.Parameters.Add("$s", Microsoft.Data.Sqlite.SqliteType.Text),
                insert.Parameters.Add("$p", Microsoft.Data.Sqlite.SqliteType.Text));
            insert.Prepare();
            var v = new float[Dim];
            for (var i = 0; i < count; i++)
            {
                var c = i % Classes;
                var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"synthetic {i}")));
                (pid.Value, pc.Value, pp.Value) = (id, $"class{c}", $"class{c}/{i}.jpg");
                ps.Value = (i / Classes % 10) switch { 8 => "validation", 9 => "test", _ => "train" };
                insert.ExecuteNonQuery();
                for (var k = 0; k < Dim; k++)
                    v[k] = Math.Max(0, profiles[c][k] * (1 + random.NextSingle() - 0.5f) + random.NextSingle() - 0.5f);
                writer.Append(id, v);
                if (i % 4096 == 4095) writer.Commit();
            }
            tx.Commit();
        }
        ExtractReport.Write(config, new ExtractSummary(false, count, 0, 0, 0, 0, 0, fingerprint, Dim, "synthetic", $"synthetic-{count}"));
        File.WriteAllText(done, "");
        return config;
    }
}
