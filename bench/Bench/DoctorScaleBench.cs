using System.Diagnostics;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Audit;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Bench;

/// <summary>
/// The Audit stage beyond the flowers: the built executable on 100,000 synthetic 512-d vectors (5 classes of 40 modes
/// each, non-negative like pooled ResNet features, 3% of the labels wrong, 1,000 planted near-duplicate pairs; no image
/// files, so nothing is verified by the layout check), timed with its peak RSS against 60 s and 2 GB; the inverted
/// file's recall against the exact search; and the exact search's time at <see cref="Neighbours.ExactLimit"/> rows.
/// </summary>
public sealed class DoctorScaleBench : IBenchmark
{
    private const int Count = 100_000, Dim = 512, Classes = 5, Modes = 40, Planted = 1000;
    private const double SecondsGoal = 60, RssGoalMb = 2048;

    public string Name => "doctor-scale";

    public void Run(BenchContext context)
    {
        var dir = Path.Combine(context.WorkDir, Name);
        var configPath = Path.Combine(dir, "pipeline.yaml");
        var (config, flipped) = Prepare(dir, configPath);
        File.Delete(ArtifactPaths.DatasetIssues(config));
        var run = DoctorBench.Timed(context.StageBin("Audit"), $"--config \"{configPath}\"");
        if (run.ExitCode != 0) throw new InvalidOperationException($"Audit on {Count} vectors exited {run.ExitCode}: {run.Output}");
        context.Note(Name, $"{Count} synthetic {Dim}-d vectors ({Classes} classes x {Modes} modes, {flipped.Count} wrong labels, " +
                           $"{Planted} planted near-duplicate pairs)");
        context.Record(Name, $"Audit on {Count} x {Dim} vectors (process)", run.Seconds, "s",
            $"{DoctorBench.Goal(run.Seconds < SecondsGoal)} under {SecondsGoal} s; CPU {run.CpuSeconds:0.0} s on {Environment.ProcessorCount} cores");
        context.Record(Name, $"Audit peak RSS at {Count} vectors", run.PeakRssMb, "MB",
            $"{DoctorBench.Goal(run.PeakRssMb < RssGoalMb)} under {RssGoalMb:0} MB");
        var issues = DatasetIssues.TryRead(config) ?? throw new InvalidOperationException("no dataset_issues.json");
        var hits = issues.LabelIssues.Count(s => flipped.Contains(s.Path));
        context.Record(Name, "wrong labels among the suspects", 100.0 * hits / flipped.Count, "%",
            $"{issues.LabelIssues.Count} suspects ({issues.LabelIssues.Count / (double)flipped.Count:0.00}N), {hits} of the {flipped.Count} wrong labels");
        context.Note(Name, "Audit's parts (wall seconds): " + string.Join(", ", issues.Seconds.Select(p => $"{p.Key} {p.Value:0.0}")));

        using var db = IndexDb.Open(config.IndexPath, create: false);
        var set = AuditStage.Combine(SplitVectors.Open(config, db).Load(AuditStage.SplitNames));
        var vectors = set.All.Vectors;
        var sw = Stopwatch.StartNew();
        var approx = Neighbours.Find(vectors, Doctor.Neighbours, Environment.ProcessorCount, exact: false);
        var approxSeconds = sw.Elapsed.TotalSeconds;

        // Recall against the exact top 10 of a seeded sample of 1,000 rows, and of the planted pairs.
        var x = Neighbours.Normalized(vectors);
        var random = new SeededRandom(7);
        var sample = Enumerable.Range(0, 1000).Select(_ => random.NextInt(Count)).Distinct().ToArray();
        int found = 0, total = 0, candidateFound = 0, candidateTotal = 0;
        var sims = new float[Count];
        foreach (var i in sample)
        {
            for (var j = 0; j < Count; j++) sims[j] = j == i ? float.NegativeInfinity : TensorPrimitives.Dot(x.AsSpan(i * Dim, Dim), x.AsSpan(j * Dim, Dim));
            var exact = Enumerable.Range(0, Count).OrderByDescending(j => sims[j]).Take(Doctor.Neighbours).ToList();
            var got = approx.Of(i).ToArray().ToHashSet();
            found += exact.Count(got.Contains);
            total += exact.Count;
            var pairs = exact.Where(j => sims[j] >= Doctor.CandidateCosine).ToList();
            candidateFound += pairs.Count(got.Contains);
            candidateTotal += pairs.Count;
        }
        var row = set.All.RelativePaths.Select((p, i) => (p, i)).ToDictionary(t => t.p, t => t.i, StringComparer.Ordinal);
        var plantedFound = Enumerable.Range(0, Planted).Count(k =>
        {
            var (a, b) = (row[PlantedPath(k, 'a')], row[PlantedPath(k, 'b')]);
            return approx.Of(a).Contains(b) || approx.Of(b).Contains(a);
        });
        context.Record(Name, $"inverted file: recall of the exact 10 nearest ({sample.Length} rows)", 100.0 * found / total, "%",
            $"{Math.Round(Math.Sqrt(Count))} lists, {Neighbours.Probes} probed; of the pairs at cosine >= {Doctor.CandidateCosine} " +
            $"(near-duplicate candidates) {100.0 * candidateFound / Math.Max(1, candidateTotal):0.0}% of {candidateTotal}; " +
            $"planted pairs {plantedFound}/{Planted}; {approxSeconds:0.0} s in process");

        // The exact search's cost at its limit, beside the inverted file's on the same rows.
        var first = OutOfFold.Subset(set.All, [.. Enumerable.Range(0, Neighbours.ExactLimit)]).Vectors;
        sw.Restart();
        Neighbours.Find(first, Doctor.Neighbours, Environment.ProcessorCount, exact: true);
        var exactSeconds = sw.Elapsed.TotalSeconds;
        sw.Restart();
        Neighbours.Find(first, Doctor.Neighbours, Environment.ProcessorCount, exact: false);
        context.Record(Name, $"exact neighbour search at its limit ({Neighbours.ExactLimit} rows)", exactSeconds, "s",
            $"the inverted file on the same rows {sw.Elapsed.TotalSeconds:0.00} s; {Environment.ProcessorCount} cores");
    }

    private static string PlantedPath(int k, char side) => $"class{k % Classes}/planted{k}{side}.jpg";

    /// <summary>The index, the cache and extract.json of the synthetic set, reused when complete; returns the wrong-label paths.</summary>
    private static (PipelineConfig Config, HashSet<string> Flipped) Prepare(string dir, string configPath)
    {
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        File.WriteAllText(configPath, $"dataset:\n  root: {dir}/data\nworkspace: {dir}/workspace\ncache:\n  dir: {dir}/cache\n");
        var config = ConfigLoader.Load(configPath);
        var flippedFile = Path.Combine(dir, "flipped.txt");
        if (File.Exists(flippedFile)) return (config, File.ReadAllLines(flippedFile).ToHashSet(StringComparer.Ordinal));
        if (Directory.Exists(config.Workspace)) Directory.Delete(config.Workspace, recursive: true);
        if (Directory.Exists(config.CacheDir)) Directory.Delete(config.CacheDir, recursive: true);

        var random = new SeededRandom(20261204);
        var shared = Enumerable.Range(0, Dim).Select(_ => Math.Abs(random.NextGaussian())).ToArray();
        var modes = Enumerable.Range(0, Classes).SelectMany(_ =>
        {
            var profile = shared.Select(s => s * Math.Exp(0.4 * random.NextGaussian())).ToArray();
            return Enumerable.Range(0, Modes).Select(_ => profile.Select(p => p * Math.Exp(0.5 * random.NextGaussian())).ToArray()).ToList();
        }).ToArray();
        float[] Draw(int c)
        {
            var m = modes[c * Modes + random.NextInt(Modes)];
            return [.. m.Select(v => (float)Math.Max(0, v * (1 + 0.6 * random.NextGaussian()) + 0.3 * random.NextGaussian()))];
        }
        var flipped = new HashSet<string>(StringComparer.Ordinal);
        const string fingerprint = "synthetic-doctor-512";
        using (var db = IndexDb.Open(config.IndexPath))
        using (var writer = new CacheWriter(config.CacheDir, fingerprint, VectorPrecision.Float32))
        {
            using var tx = db.Begin();
            for (var c = 0; c < Classes; c++) db.Exec($"INSERT INTO classes(label_id, name) VALUES ({c}, 'class{c}');", tx);
            using var insert = db.Command("INSERT INTO examples(content_id, class, split, rel_path) VALUES ($id, $c, $s, $p);", tx);
            void Add(string path, int label, float[] v, int i)
            {
                var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path)));
                insert.Parameters.Clear();
                insert.Parameters.AddWithValue("$id", id);
                insert.Parameters.AddWithValue("$c", $"class{label}");
                insert.Parameters.AddWithValue("$s", (i % 10) switch { 8 => "validation", 9 => "test", _ => "train" });
                insert.Parameters.AddWithValue("$p", path);
                insert.ExecuteNonQuery();
                writer.Append(id, v);
                if (i % 4096 == 4095) writer.Commit();
            }
            for (var k = 0; k < Planted; k++)
            {
                var c = k % Classes;
                var v = Draw(c);
                var copy = v.Select(a => Math.Max(0, a + (float)(0.15 * random.NextGaussian()))).ToArray();
                Add(PlantedPath(k, 'a'), c, v, 2 * k);
                Add(PlantedPath(k, 'b'), c, copy, 2 * k + 1);
            }
            for (var i = 2 * Planted; i < Count; i++)
            {
                var c = i % Classes;
                var label = c;
                if (random.NextDouble() < 0.03)
                {
                    var other = random.NextInt(Classes - 1);
                    label = other >= c ? other + 1 : other;
                }
                var path = $"class{label}/{i}.jpg";
                if (label != c) flipped.Add(path);
                Add(path, label, Draw(c), i);
            }
            tx.Commit();
        }
        ExtractReport.Write(config, new ExtractSummary(false, Count, 0, 0, 0, 0, 0, fingerprint, Dim, "synthetic", $"synthetic-doctor-{Count}"));
        File.WriteAllLines(flippedFile, flipped.Order(StringComparer.Ordinal));
        return (config, flipped);
    }
}
