using System.Diagnostics;
using System.Text.Json.Nodes;

namespace BottleneckPipeline.Bench;

/// <summary>
/// What a benchmark gets: a scratch folder of its own (never the default workspace), the shared
/// data paths, and a place to record figures. Every ratio is computed from two figures measured in
/// this same run.
/// </summary>
public sealed class BenchContext
{
    public required string RepoRoot { get; init; }
    public required string WorkDir { get; init; }
    public required bool Quick { get; init; }
    public string SharedData => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
    public string Flowers => Path.Combine(SharedData, "datasets", "flower_photos");
    public string InceptionZeroWeights => Path.Combine(SharedData, "models", "inception_v3.torchvision.zero-weights.onnx");
    public string StageBin(string stage) => Path.Combine(RepoRoot, ".artifacts", "bin", stage, "release", stage);

    public JsonObject Results { get; } = new();
    public List<(string Area, string Figure, string Value, string Comparison)> Rows { get; } = [];
    /// <summary>When each area finished, with the load average then (results.md's headings).</summary>
    public Dictionary<string, string> Measured { get; } = new(StringComparer.Ordinal);

    /// <summary>Records a figure; comparison is free text such as "1.42x raw ORT (38.1 img/s)".</summary>
    public void Record(string area, string figure, double value, string unit, string comparison = "")
    {
        var areaNode = Results[area] as JsonObject ?? (JsonObject)(Results[area] = new JsonObject());
        areaNode[figure] = Math.Round(value, 4);
        Rows.Add((area, figure, $"{value:0.###} {unit}".Trim(), comparison));
        Console.WriteLine($"  {area,-12} {figure,-40} {value,12:0.###} {unit,-8} {comparison}");
    }

    public void Note(string area, string text)
    {
        var areaNode = Results[area] as JsonObject ?? (JsonObject)(Results[area] = new JsonObject());
        areaNode["note"] = text;
        Rows.Add((area, "note", text, ""));
        Console.WriteLine($"  {area,-12} note: {text}");
    }

    /// <summary>Runs a process to completion, returning wall seconds, its output and its peak RSS in MB.</summary>
    public static (double Seconds, string Output, double PeakRssMb, int ExitCode) RunProcess(string file, string args, string? workDir = null)
    {
        // /usr/bin/time -f reports the child's peak RSS without the child measuring itself.
        var psi = new ProcessStartInfo("/usr/bin/time", $"-f \"@@maxrss_kb=%M\" {file} {args}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir ?? Environment.CurrentDirectory,
        };
        if (!File.Exists("/usr/bin/time"))
            psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = psi.WorkingDirectory };
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        var seconds = sw.Elapsed.TotalSeconds;
        var err = stderr.Result;
        var rss = 0.0;
        var mark = err.LastIndexOf("@@maxrss_kb=", StringComparison.Ordinal);
        if (mark >= 0 && double.TryParse(err[(mark + 12)..].Trim(), out var kb)) { rss = kb / 1024; err = err[..mark]; }
        return (seconds, stdout.Result + err, rss, p.ExitCode);
    }
}
