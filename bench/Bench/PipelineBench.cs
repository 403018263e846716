using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Bench;

/// <summary>
/// The whole pipeline on the 1500 shared flowers in a workspace of its own (cold cache), then a warm
/// rerun, then ML.NET's own recipe (../shared/peers/mlnet-resnet18) trained on exactly our train
/// split and scored on exactly our test split, so both accuracies and wall times sit side by side.
/// </summary>
public sealed partial class PipelineBench : IBenchmark
{
    public string Name => "pipeline";

    private static readonly string[] Stages = ["Ingest", "Extract", "TrainHead", "Evaluate"];

    public void Run(BenchContext ctx)
    {
        var ws = Path.Combine(ctx.WorkDir, "pipeline");
        if (Directory.Exists(ws)) Directory.Delete(ws, recursive: true);
        Directory.CreateDirectory(ws);
        var config = Path.Combine(ws, "pipeline.yaml");
        File.WriteAllText(config, $"dataset:\n  root: {ctx.Flowers}\nworkspace: {ws}/workspace\n");

        var cold = RunAll(ctx, config, "cold");
        var warm = RunAll(ctx, config, "warm");
        ctx.Record(Name, "cold run, all stages", cold, "s", "");
        // An up-to-date Extract returns before opening any image; otherwise its report counts the decodes.
        var decoded = _warmExtractOutput.Contains("up to date")
            ? 0
            : ReadJson(Path.Combine(ws, "workspace", "reports", "extract.json"))?["decoded"]?.GetValue<long>() ?? -1;
        ctx.Record(Name, "warm rerun, all stages", warm, "s", $"{warm / cold:0.000}x the cold run; images decoded: {decoded} (must be 0)");

        ctx.Record(Name, "ours: Extract cold img/s", _coldExtractRate, "img/s", "from the cold run's extract.json");

        var eval = ReadJson(Path.Combine(ws, "workspace", "reports", "evaluation.json"));
        var ours = eval?["accuracy"]?["value"]?.GetValue<double>() ?? double.NaN;
        ctx.Record(Name, "ours: test accuracy", ours * 100, "%", $"on {eval?["accuracy"]?["images"]} test images");

        PeerOnOurSplit(ctx, ws, ours, cold);
    }

    private double _coldExtractRate;
    private string _warmExtractOutput = "";

    private double RunAll(BenchContext ctx, string config, string label)
    {
        var total = 0.0;
        foreach (var stage in Stages)
        {
            var (s, output, rss, code) = BenchContext.RunProcess(ctx.StageBin(stage), $"--config {config}");
            if (code != 0) throw new InvalidOperationException($"{stage} ({label}) exited {code}: {output}");
            total += s;
            ctx.Record(Name, $"{label}: {stage}", s, "s", $"peak RSS {rss:0} MB");
            if (label == "cold") ctx.Record(Name, $"peak RSS {stage} at 1500", rss, "MB");
            if (label == "warm" && stage == "Extract") _warmExtractOutput = output;
            if (label == "cold" && stage == "Extract")
                _coldExtractRate = ReadJson(Path.Combine(Path.GetDirectoryName(config)!, "workspace", "reports", "extract.json"))?["images_per_second"]
                    ?.GetValue<double>() ?? double.NaN;
        }
        return total;
    }

    private void PeerOnOurSplit(BenchContext ctx, string ws, double ours, double oursSeconds)
    {
        var peerSrc = Path.Combine(ctx.SharedData, "peers", "mlnet-resnet18");
        var peer = Path.Combine(ctx.WorkDir, "mlnet-peer");
        Directory.CreateDirectory(peer);
        foreach (var f in Directory.GetFiles(peerSrc)) File.Copy(f, Path.Combine(peer, Path.GetFileName(f)), overwrite: true);
        // The peer is not part of our solution; it must not inherit our build settings.
        File.WriteAllText(Path.Combine(peer, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(peer, "Directory.Packages.props"), "<Project />");
        var build = BenchContext.RunProcess("dotnet", "build -c Release -o bin-peer --nologo -v quiet", peer);
        if (build.ExitCode != 0) throw new InvalidOperationException("building the ML.NET peer failed: " + build.Output);

        var trainList = Path.Combine(peer, "train.tsv");
        var testList = Path.Combine(peer, "test.tsv");
        WriteSplitLists(Path.Combine(ws, "workspace", "index.sqlite"), ctx.Flowers, trainList, testList);

        var run = BenchContext.RunProcess(Path.Combine(peer, "bin-peer", "mlnet-resnet18"), $"--train-list {trainList} --test-list {testList}", peer);
        if (run.ExitCode != 0) throw new InvalidOperationException("the ML.NET peer failed: " + run.Output);
        var last = run.Output.Split('\n').LastOrDefault(l => l.Contains("test_accuracy=")) ?? "";
        var acc = double.Parse(last.Split("test_accuracy=")[1].Trim().TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture);
        ctx.Record(Name, "ML.NET peer: test accuracy", acc, "%", $"ours {ours * 100:0.00}% ({ours * 100 - acc:+0.00;-0.00} points)");
        ctx.Record(Name, "ML.NET peer: wall time", run.Seconds, "s",
            $"ours {oursSeconds:0.0} s cold, all four stages (ours {run.Seconds / oursSeconds:0.00}x faster); peak RSS {run.PeakRssMb:0} MB");
        ctx.Note(Name, "peer: " + last.Trim());

        // The peer's own featurizing rate (LoadImages, ResizeImages, ExtractPixels, DnnFeaturizeImage) beside our Extract's.
        var peerRate = double.Parse(PeerRate().Match(last).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var ourRate = ctx.Results[Name]?["ours: Extract cold img/s"]?.GetValue<double>() ?? double.NaN;
        ctx.Record(Name, "ML.NET peer: DnnImageFeaturizer img/s", peerRate, "img/s", $"ours {ourRate:0.0} img/s = {ourRate / peerRate:0.00}x (goal 1.3x)");
    }

    /// <summary>Our train and test splits as the peer's "label TAB path" lists, straight from the index.</summary>
    private static void WriteSplitLists(string indexPath, string root, string trainList, string testList)
    {
        using var conn = new SqliteConnection($"Data Source={indexPath};Mode=ReadOnly;Pooling=False");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT split, class, rel_path FROM examples " +
                          "WHERE conflict = 0 AND content_id NOT IN (SELECT content_id FROM quarantine) ORDER BY rel_path";
        using var r = cmd.ExecuteReader();
        using var train = new StreamWriter(trainList);
        using var test = new StreamWriter(testList);
        while (r.Read())
        {
            var line = $"{r.GetString(1)}\t{Path.Combine(root, r.GetString(2))}";
            if (r.GetString(0) == "train") train.WriteLine(line);
            else if (r.GetString(0) == "test") test.WriteLine(line);
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\(([0-9.]+) img/s\)")]
    private static partial System.Text.RegularExpressions.Regex PeerRate();

    private static JsonNode? ReadJson(string path) => File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;
}
