using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace BottleneckPipeline.Bench;

/// <summary>
/// What a shard costs, on 300 flowers through the built executables. A shard runs the same code on
/// its images as a plain Extract on all of them: the fair comparison is `--shard 0/1` (every image,
/// the shard's path) against a plain run, alternated twice with fresh caches so that drift in the
/// machine's load falls on both. Then shards 0/2 and 1/2 one after the other (each with the whole
/// machine, as a cluster node has) and the finishing Extract; and a one-image shard, whose process
/// CPU is the start-up every shard pays before its first image.
/// </summary>
public sealed class ExtractShardsBench : IBenchmark
{
    public string Name => "extract-shards";

    public void Run(BenchContext ctx)
    {
        var dir = Path.Combine(ctx.WorkDir, Name);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var data = Path.Combine(dir, "data");
        var perClass = ctx.Quick ? 12 : 60;
        foreach (var cls in Directory.GetDirectories(ctx.Flowers).Order(StringComparer.Ordinal))
        {
            var target = Directory.CreateDirectory(Path.Combine(data, Path.GetFileName(cls))).FullName;
            foreach (var f in Directory.GetFiles(cls, "*.jpg").Order(StringComparer.Ordinal).Take(perClass))
                File.CreateSymbolicLink(Path.Combine(target, Path.GetFileName(f)), f);
        }
        ctx.Note(Name, $"{Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Length} flowers; " +
                       $"load average before: {File.ReadAllText("/proc/loadavg").Trim()}");

        // Alternated: plain, shard 0/1, plain, shard 0/1.
        var runs = new List<(bool Shard, double Rate, double Cpu)>();
        for (var k = 0; k < 4; k++)
        {
            var shard = k % 2 == 1;
            var config = Workspace(dir, $"{(shard ? "shard" : "plain")}-{k / 2}", data);
            Stage(ctx, "Ingest", config);
            var (_, cpu) = Stage(ctx, "Extract", config, shard ? "--shard 0/1" : "");
            var report = shard ? Summary(config, "extract-0-of-1.json") : Report(config);
            runs.Add((shard, report["images_per_second"]!.GetValue<double>(), cpu));
        }
        var images = Report(Path.Combine(dir, "plain-0", "pipeline.yaml"))["extracted"]!.GetValue<int>();
        var plain = runs.Where(r => !r.Shard).ToList();
        var whole = runs.Where(r => r.Shard).ToList();
        string Pair(Func<(bool, double Rate, double Cpu), double> f, string format) =>
            string.Join(" and ", runs.Select(r => f(r).ToString(format, CultureInfo.InvariantCulture)));
        ctx.Record(Name, $"plain Extract, {images} images (mean of 2)", plain.Average(r => r.Rate), "img/s",
            $"runs {Pair(r => r.Rate, "0.0")} (plain, shard, plain, shard)");
        ctx.Record(Name, $"Extract --shard 0/1, the same {images} images (mean of 2)", whole.Average(r => r.Rate), "img/s",
            string.Create(CultureInfo.InvariantCulture, $"{whole.Average(r => r.Rate) / plain.Average(r => r.Rate):0.00}x the plain rate"));
        ctx.Record(Name, "process CPU, shard 0/1 / plain", whole.Average(r => r.Cpu) / plain.Average(r => r.Cpu), "x",
            $"CPU seconds {Pair(r => r.Cpu, "0.0")}");

        var halves = Workspace(dir, "halves", data);
        Stage(ctx, "Ingest", halves);
        for (var i = 0; i < 2; i++)
        {
            Stage(ctx, "Extract", halves, $"--shard {i}/2");
            var summary = Summary(halves, $"extract-{i}-of-2.json");
            ctx.Record(Name, $"shard {i}/2 ({summary["assigned"]} images)", summary["images_per_second"]!.GetValue<double>(), "img/s");
        }
        var (finishSeconds, _) = Stage(ctx, "Extract", halves);
        var finished = Report(halves);
        ctx.Record(Name, "finishing Extract after the two (cache check + report)", finishSeconds, "s",
            $"{finished["extracted"]} extracted, {finished["reused"]} reused; the shards reported {finished["shards"]?["extracted"]} extracted");

        // A one-image shard: the start-up (runtime, model edit, inference sessions) and one image.
        var tiny = Workspace(dir, "one-image", data);
        Stage(ctx, "Ingest", tiny);
        string firstId;
        using (var db = Index.IndexDb.Open(Path.Combine(dir, "one-image", "workspace", "index.sqlite"), create: false))
            firstId = (string)db.Scalar("SELECT MIN(content_id) FROM examples;")!;
        var one = new Extract.ExtractShard(0, 1000);
        one = one with { Index = one.ShardOf(Cache.IdRange.Position(firstId)) };
        var (oneSeconds, oneCpu) = Stage(ctx, "Extract", tiny, $"--shard {one}");
        ctx.Record(Name, $"start-up: a shard of {Summary(tiny, $"extract-{one.Index}-of-1000.json")["assigned"]} image(s), process CPU", oneCpu, "s",
            string.Create(CultureInfo.InvariantCulture,
                $"wall {oneSeconds:0.0} s; paid once per shard, against {plain.Average(r => r.Cpu):0.0} CPU s for {images} images"));
    }

    private static JsonNode Summary(string config, string file) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(config)!, "workspace", "reports", "shards", file)))!;

    private static string Workspace(string dir, string name, string data)
    {
        var ws = Directory.CreateDirectory(Path.Combine(dir, name)).FullName;
        var config = Path.Combine(ws, "pipeline.yaml");
        File.WriteAllText(config, $"dataset:\n  root: {data}\nworkspace: {ws}/workspace\n");
        return config;
    }

    private static JsonNode Report(string config) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(config)!, "workspace", "reports", "extract.json")))!;

    /// <summary>Runs a stage; returns its wall seconds and its CPU seconds (user + system, from /usr/bin/time).</summary>
    private static (double Seconds, double CpuSeconds) Stage(BenchContext ctx, string stage, string config, string extra = "")
    {
        var exe = ctx.StageBin(stage);
        var psi = new ProcessStartInfo("/usr/bin/time", $"-f \"@@cpu=%U %S\" {exe} --config \"{config}\" {extra}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        var seconds = clock.Elapsed.TotalSeconds;
        if (p.ExitCode != 0) throw new InvalidOperationException($"{stage} {extra} exited {p.ExitCode}: {stdout.Result}{stderr.Result}");
        var mark = stderr.Result.LastIndexOf("@@cpu=", StringComparison.Ordinal);
        var cpu = mark < 0 ? double.NaN : stderr.Result[(mark + 6)..].Trim().Split(' ').Sum(v => double.Parse(v, CultureInfo.InvariantCulture));
        return (seconds, cpu);
    }
}
