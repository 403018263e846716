using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Extract: raw ONNX Runtime throughput on pre-decoded tensors (batch 1, the batch we use, parallel
/// batch-1 sessions, 1 vs 2 threads) against the Extract executable end to end on the 1500 flowers
/// (cold cache), the warm rerun, the up-to-date check, cache load speed (including 100000 synthetic
/// vectors), peak RSS, and the Inception-v3 zero-weights graph on a 200-image subsample.
/// </summary>
public sealed class ExtractBench : IBenchmark
{
    public string Name => "extract";

    private const string Area = "extract";

    public void Run(BenchContext ctx)
    {
        var root = Path.Combine(ctx.WorkDir, "extract");
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        Directory.CreateDirectory(root);
        var files = FlowerFiles(ctx.Flowers);
        var raw = RawOrt(ctx, files);
        EndToEnd(ctx, root, files.Count, raw);
        KillAndResume(ctx, root);
        CacheLoad(ctx, root);
        Inception(ctx, root, files);
    }

    // ---- raw ONNX Runtime on tensors decoded beforehand --------------------------------------

    private sealed record RawFigures(double Batch1, double Best, int BatchSize, double CpuBound);

    private static RawFigures RawOrt(BenchContext ctx, IReadOnlyList<string> files)
    {
        var spec = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch);
        var n = ctx.Quick ? 24 : 48;
        var tensors = Prepare(spec, files, 16);
        var batch = new ExtractConfig().BatchSize;

        // The machine is shared: every figure is the best of three rounds, the configurations interleaved.
        using var dynamic = BackboneSession.Create(spec, threads: 0);
        using var spinning = BackboneSession.Create(spec, threads: 0, allowSpinning: true);
        using var fixedGraph = BackboneSession.Create(spec, threads: 0, makeBatchDynamic: false);
        using var s1 = BackboneSession.Create(spec, threads: 1);
        using var s2 = BackboneSession.Create(spec, threads: 1);
        foreach (var s in new[] { dynamic, spinning, fixedGraph, s1, s2 }) Time(s, spec, tensors, 1, 2);
        double b1 = 0, bUsed = 0, bSpin = 0, fixed1 = 0, parallel = 0, oneThread = 0;
        for (var round = 0; round < 3; round++)
        {
            b1 = Math.Max(b1, Time(dynamic, spec, tensors, 1, n));
            bUsed = Math.Max(bUsed, Time(dynamic, spec, tensors, batch, n));
            bSpin = Math.Max(bSpin, Time(spinning, spec, tensors, batch, n));
            fixed1 = Math.Max(fixed1, Time(fixedGraph, spec, tensors, 1, n));
            var sw = Stopwatch.StartNew();
            Parallel.Invoke(() => Time(s1, spec, tensors, batch, n / 2), () => Time(s2, spec, tensors, batch, n / 2));
            parallel = Math.Max(parallel, n / sw.Elapsed.TotalSeconds);
            oneThread = Math.Max(oneThread, Time(s1, spec, tensors, batch, n));
        }
        ctx.Record(Area, "raw ORT resnet18 batch 1", b1, "img/s", "pre-decoded tensors, 2 intra-op threads, batch-dynamic graph");
        ctx.Record(Area, $"raw ORT resnet18 batch {batch} (the default)", bUsed, "img/s", $"{bUsed / b1:0.00}x batch 1");
        ctx.Record(Area, "raw ORT resnet18 unedited batch-1 graph", fixed1, "img/s", $"dynamic batch {batch}: {bUsed / fixed1:0.00}x");
        ctx.Record(Area, $"raw ORT 2 parallel sessions x 1 thread, batch {batch}", parallel, "img/s", $"1 session x 2 threads: {bUsed / parallel:0.00}x");
        ctx.Record(Area, $"raw ORT batch {batch}, threads spinning", bSpin, "img/s", $"spinning off: {bUsed / bSpin:0.00}x (inference alone)");
        ctx.Record(Area, $"raw ORT batch {batch}, 1 thread", oneThread, "img/s", $"2 threads: {bUsed / oneThread:0.00}x");

        // Decoding competes with inference for the same cores, which caps any pipeline below raw ORT.
        var preparer = new BottleneckPipeline.Embedding.ImagePreparer(spec, long.MaxValue);
        var items = files.Take(60)
            .Select(f => new BottleneckPipeline.Embedding.ImageWork(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))), f, f))
            .ToList();
        var buffer = new float[spec.ValuesPerImage];
        var clock = Stopwatch.StartNew();
        foreach (var w in items) preparer.Prepare(w, buffer); // warm: the JIT's first tiers are not what a long run sees
        clock.Restart();
        foreach (var w in items) preparer.Prepare(w, buffer);
        var decode = items.Count / clock.Elapsed.TotalSeconds;
        // The baseline is raw ORT's best: whichever of one 2-thread session or parallel 1-thread sessions is faster.
        var best = Math.Max(bUsed, parallel);
        var bound = 1 / (1 / best + 1 / (decode * Environment.ProcessorCount));
        ctx.Record(Area, "decode+resize+normalize, 1 thread", decode, "img/s", "flowers JPEGs to a 224 tensor");
        ctx.Record(Area, "CPU bound for decode + inference", bound, "img/s", $"1 / (1/raw + 1/(decode x {Environment.ProcessorCount} cores))");
        return new RawFigures(b1, best, batch, bound);
    }

    private static float[] Prepare(BackboneSpec spec, IReadOnlyList<string> files, int n)
    {
        var tensors = new float[n * spec.ValuesPerImage];
        for (var i = 0; i < n; i++)
        {
            using var img = ImageLoader.Decode(File.ReadAllBytes(files[i * files.Count / n]), long.MaxValue);
            TensorWriter.Resize(img, spec.InputSize, spec.Resize);
            TensorWriter.Write(img, spec.Preprocessing, spec.Layout, tensors.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
        }
        return tensors;
    }

    /// <summary>Images per second running <paramref name="count"/> images in batches of <paramref name="batch"/>.</summary>
    private static double Time(BackboneSession session, BackboneSpec spec, float[] tensors, int batch, int count)
    {
        var available = tensors.Length / spec.ValuesPerImage;
        var output = Array.Empty<float>();
        var chunk = new float[batch * spec.ValuesPerImage];
        var sw = Stopwatch.StartNew();
        for (var done = 0; done < count; done += batch)
        {
            var k = Math.Min(batch, count - done);
            var start = done % Math.Max(1, available - k + 1);
            Array.Copy(tensors, start * spec.ValuesPerImage, chunk, 0, k * spec.ValuesPerImage);
            session.Run(chunk, k, ref output);
        }
        return count / sw.Elapsed.TotalSeconds;
    }

    // ---- the Extract executable end to end ------------------------------------------------------

    private static void EndToEnd(BenchContext ctx, string root, int total, RawFigures raw)
    {
        var dir = Path.Combine(root, "flowers");
        var config = WriteConfig(dir, ctx.Flowers, "");
        Index(ctx, config);
        var exe = ctx.StageBin("Extract");

        var cold = BenchContext.RunProcess(exe, $"--config {config}");
        Check(cold, "cold Extract");
        var report = ReadReport(dir);
        var rate = report["images_per_second"]!.GetValue<double>();
        var wall = total / cold.Seconds;
        ctx.Record(Area, "Extract cold, 1500 flowers (pipeline rate)", rate, "img/s",
            $"{rate / raw.Best:0.00}x raw ORT's best, batch {raw.BatchSize} ({raw.Best:0.0} img/s; goal 0.85x); " +
            $"{rate / raw.CpuBound:0.00}x the CPU bound ({raw.CpuBound:0.0})");
        ctx.Record(Area, "Extract cold, process wall time", cold.Seconds, "s", $"{wall:0.0} img/s including start-up and model load");
        ctx.Record(Area, "Extract cold, peak RSS", cold.PeakRssMb, "MB", "goal < 500 MB");
        ctx.Record(Area, "Extract cold, images extracted", report["extracted"]!.GetValue<int>(), "img", $"quarantined {report["quarantined"]}");

        var upToDate = BenchContext.RunProcess(exe, $"--config {config}");
        Check(upToDate, "up-to-date Extract");
        ctx.Record(Area, "Extract up-to-date run", upToDate.Seconds, "s", upToDate.Output.Contains("up to date") ? "printed 'up to date'" : "NOT up to date");

        File.Delete(Path.Combine(dir, "ws", "reports", "extract.json"));
        var warm = BenchContext.RunProcess(exe, $"--config {config}");
        Check(warm, "warm Extract");
        var warmReport = ReadReport(dir);
        ctx.Record(Area, "Extract warm rerun (all cached)", warm.Seconds, "s", "goal < 3 s");
        ctx.Record(Area, "Extract warm rerun images decoded", warmReport["decoded"]!.GetValue<long>(), "img", $"reused {warmReport["reused"]}, goal 0 decoded");

        // Threads, decode workers and batch, each on a 300-image subsample with a fresh cache.
        var variant = 0;
        foreach (var (label, extra) in new[]
                 {
                     ("one session per core, 1 thread each, 1 decode worker (default)", ""),
                     ("1 session x 2 threads", "  sessions: 1\n"),
                     ("1 session x 1 thread (1 core for inference)", "  sessions: 1\n  threads: 1\n"),
                     ("default, 2 decode workers", "  decode_workers: 2\n"),
                     ("default, batch 1", "  batch_size: 1\n"),
                 })
        {
            var sub = Path.Combine(root, $"sub-{variant++}");
            var subConfig = WriteConfig(sub, Subset(ctx, ctx.Quick ? 12 : 60), extra.Length > 0 ? "extract:\n" + extra : "");
            Index(ctx, subConfig);
            var r = BenchContext.RunProcess(exe, $"--config {subConfig}");
            Check(r, "Extract " + label);
            ctx.Record(Area, $"Extract 300 images, {label}", ReadReport(sub)["images_per_second"]!.GetValue<double>(), "img/s",
                variant == 1 ? $"peak RSS {r.PeakRssMb:0} MB (1500 images: {cold.PeakRssMb:0} MB)" : "");
        }
    }

    /// <summary>kill -9 in the middle of a cold run, then a rerun: how much was kept, and that the rerun completes the rest.</summary>
    private static void KillAndResume(BenchContext ctx, string root)
    {
        var dir = Path.Combine(root, "kill");
        var config = WriteConfig(dir, Subset(ctx, ctx.Quick ? 12 : 60), "");
        Index(ctx, config);
        var fingerprint = BackboneFactory.Resolve(ConfigLoader.Load(config)).Fingerprint;
        var folder = BottleneckCache.FolderFor(Path.Combine(dir, "ws", "cache"), fingerprint);
        var psi = new ProcessStartInfo(ctx.StageBin("Extract"), $"--config {config}") { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var p = Process.Start(psi)!)
        {
            // Kill once some batches are on disk (a fixed delay would depend on how busy the machine is).
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (DateTime.UtcNow < deadline && !p.HasExited &&
                   !(Directory.Exists(folder) && Directory.GetFiles(folder, "*.bpv").Sum(f => new FileInfo(f).Length) > 100_000))
                Thread.Sleep(50);
            if (!p.HasExited) p.Kill(); // SIGKILL on Linux: no cleanup runs
            p.WaitForExit();
        }
        var kept = BottleneckCache.Open(Path.Combine(dir, "ws", "cache"), fingerprint, loadVectors: false).Count;
        var rerun = BenchContext.RunProcess(ctx.StageBin("Extract"), $"--config {config}");
        Check(rerun, "Extract after kill -9");
        var report = ReadReport(dir);
        var extracted = report["extracted"]!.GetValue<int>();
        var after = BottleneckCache.Open(Path.Combine(dir, "ws", "cache"), fingerprint);
        ctx.Record(Area, "kill -9 mid-run: vectors kept", kept, "img",
            $"rerun extracted {extracted}, reused {report["reused"]}; " +
            $"cache now {after.Count} of {extracted + report["reused"]!.GetValue<int>()}, rejected records {after.Stats.RejectedRecords}");
    }

    // ---- cache load -------------------------------------------------------------------------------

    private static void CacheLoad(BenchContext ctx, string root)
    {
        var dir = Path.Combine(root, "flowers");
        var fingerprint = ReadReport(dir)["fingerprint"]!.GetValue<string>();
        var cacheDir = Path.Combine(dir, "ws", "cache");
        var sw = Stopwatch.StartNew();
        var cache = BottleneckCache.Open(cacheDir, fingerprint);
        var s = sw.Elapsed.TotalSeconds;
        ctx.Record(Area, "cache load, 1500 flowers vectors", s * 1000, "ms", $"{cache.Stats.BytesRead / 1e6 / s:0} MB/s, {cache.Count} vectors");

        var synthetic = Path.Combine(root, "synthetic-cache");
        const int count = 100_000, dim = 512;
        var vector = new float[dim];
        var rng = new Random(1);
        sw.Restart();
        using (var w = new CacheWriter(synthetic, "synthetic", VectorPrecision.Float32))
        {
            Span<byte> id = stackalloc byte[32];
            for (var i = 0; i < count; i++)
            {
                rng.NextBytes(id);
                for (var k = 0; k < dim; k++) vector[k] = (float)rng.NextDouble();
                w.Append(ContentKey.FromBytes(id), vector);
                if (i % 1000 == 999) w.Commit();
            }
        }
        var writeS = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var big = BottleneckCache.Open(synthetic, "synthetic");
        var loadS = sw.Elapsed.TotalSeconds;
        if (big.Count != count) throw new InvalidOperationException($"synthetic cache read {big.Count} of {count} vectors");
        ctx.Record(Area, "cache load, 100000 x 512 float32 vectors", loadS, "s",
            $"{big.Stats.BytesRead / 1e6 / loadS:0} MB/s; written in {writeS:0.0} s (fsync per 1000)");
        sw.Restart();
        var keys = BottleneckCache.Open(synthetic, "synthetic", loadVectors: false);
        ctx.Record(Area, "cache key scan, 100000 vectors (Extract's check)", sw.Elapsed.TotalSeconds, "s", $"{keys.Count} keys");
        Directory.Delete(synthetic, recursive: true);
    }

    // ---- Inception-v3 (torchvision, zero weights) -------------------------------------------------

    private static void Inception(BenchContext ctx, string root, IReadOnlyList<string> files)
    {
        if (!File.Exists(ctx.InceptionZeroWeights))
        {
            ctx.Note(Area, "inception zero-weights model not found; skipped");
            return;
        }
        var spec = BackboneFactory.Resolve(new BackboneConfig { Name = BackboneName.InceptionV3, Onnx = ctx.InceptionZeroWeights }, ResizeMode.Stretch);
        var n = ctx.Quick ? 16 : 40;
        var tensors = Prepare(spec, files, n);
        double rawRate;
        using (var session = BackboneSession.Create(spec, threads: 0))
        {
            Time(session, spec, tensors, 8, 8);
            rawRate = Time(session, spec, tensors, 8, n);
        }
        ctx.Record(Area, "raw ORT inception-v3 batch 8", rawRate, "img/s", $"{spec.Dimension}-d '{spec.BottleneckTensor}'");

        var dir = Path.Combine(root, "inception");
        var config = WriteConfig(dir, Subset(ctx, ctx.Quick ? 4 : 40), $"backbone:\n  name: inception-v3\n  onnx: {ctx.InceptionZeroWeights}\n");
        Index(ctx, config);
        // Zero weights give all-zero vectors: Extract embeds every image, then refuses them (exit 3, no
        // report), so the rate is its progress line's at 100%.
        var r = BenchContext.RunProcess(ctx.StageBin("Extract"), $"--config {config}");
        if (r.ExitCode != 3 || !r.Output.Contains("are degenerate", StringComparison.Ordinal)) Check(r, "inception Extract");
        var done = System.Text.RegularExpressions.Regex.Matches(r.Output, @"extract: (\d+)/\1 \(100%\), ([0-9.]+) img/s");
        if (done.Count == 0) throw new InvalidOperationException($"inception Extract printed no finished progress line: {r.Output}");
        var rate = double.Parse(done[^1].Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        ctx.Record(Area, "Extract inception-v3, 200 images", rate, "img/s", $"{rate / rawRate:0.00}x raw ORT; {spec.Dimension}-d; peak RSS {r.PeakRssMb:0} MB");
    }

    // ---- helpers ------------------------------------------------------------------------------------

    private static List<string> FlowerFiles(string flowers) =>
        [.. Directory.GetDirectories(flowers).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal))];

    internal static string WriteConfig(string dir, string dataset, string extra)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "pipeline.yaml");
        File.WriteAllText(path, $"dataset:\n  root: {dataset}\nworkspace: {Path.Combine(dir, "ws")}\n{extra}");
        return path;
    }

    /// <summary>Indexes a bench dataset with the real Ingest stage.</summary>
    internal static void Index(BenchContext ctx, string config) =>
        Check(BenchContext.RunProcess(ctx.StageBin("Ingest"), $"--config {config}"), "Ingest");

    /// <summary>The first <paramref name="perClass"/> flowers of each class, copied once into a folder of their own.</summary>
    internal static string Subset(BenchContext ctx, int perClass)
    {
        var root = Path.Combine(ctx.WorkDir, "extract", $"flowers-{perClass}-per-class");
        if (Directory.Exists(root)) return root;
        var partial = root + ".partial";
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        foreach (var cls in Directory.GetDirectories(ctx.Flowers).Order(StringComparer.Ordinal))
        {
            var target = Directory.CreateDirectory(Path.Combine(partial, Path.GetFileName(cls))).FullName;
            foreach (var f in Directory.GetFiles(cls, "*.jpg").Order(StringComparer.Ordinal).Take(perClass))
                File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
        Directory.Move(partial, root);
        return root;
    }

    internal static JsonNode ReadReport(string dir) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "ws", "reports", "extract.json")))!;

    internal static void Check((double Seconds, string Output, double PeakRssMb, int ExitCode) r, string what)
    {
        if (r.ExitCode != 0) throw new InvalidOperationException($"{what} failed (exit {r.ExitCode}): {r.Output}");
    }
}
