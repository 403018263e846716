using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>
/// `make` (the repository's Makefile, its stages as built) on 90 real flowers (daisy, dandelion, roses: 30 each) with two
/// faults planted, once for every test of the collection: a daisy moved into the roses folder (a label error: a plain
/// white daisy, which the doctor ranks first among this set's suspects), and a leak,
/// a test photo of a dandelion copied into the same folder re-encoded at JPEG quality 70 and slightly cropped, its bytes
/// chosen so that its content hash lands it in the train split.
/// </summary>
public sealed class DoctorPipeline : IDisposable
{
    public const string Moved = "roses/moved_daisy.jpg", MovedFrom = "daisy/102841525_bd6628ae3c.jpg";
    public const string LeakCopy = "dandelion/leaked_copy.jpg";
    public const int ValidationPercent = 20, TestPercent = 40;

    public TempDir Dir { get; } = new();
    public string Data => Dir["data"];
    public string ConfigPath => Dir["run/pipeline.yaml"];
    public string Workspace => Dir["ws"];
    public string ReportsDir => Path.Combine(Workspace, "reports");
    public string PagePath => Path.Combine(ReportsDir, "evaluation.html");

    /// <summary>The test photo whose near-copy went into train.</summary>
    public string LeakSource { get; }

    /// <summary>What the first `make` printed.</summary>
    public StageProcess.Result First { get; }

    public DoctorPipeline()
    {
        TestIndex.CopyFlowers(Data, classes: 3, perClass: 30);
        File.Move(Path.Combine(Data, MovedFrom), Path.Combine(Data, Moved));
        var splits = new SplitAssigner(ValidationPercent, TestPercent, "", null);
        string SplitOf(byte[] bytes) => splits.Assign(Convert.ToHexStringLower(SHA256.HashData(bytes)), null);
        var source = Directory.GetFiles(Path.Combine(Data, "dandelion")).Order(StringComparer.Ordinal)
            .First(f => SplitOf(File.ReadAllBytes(f)) == Splits.Test);
        LeakSource = Path.GetRelativePath(Data, source).Replace('\\', '/');
        // Cropped a pixel more each try, until the copy's content hash draws the train split (about 2 tries in 5 do).
        for (var extra = 0; ; extra++)
        {
            var copy = AuditedFlowers.NearCopyBytes(source, extra);
            if (SplitOf(copy) != Splits.Train) continue;
            File.WriteAllBytes(Path.Combine(Data, LeakCopy), copy);
            break;
        }
        Directory.CreateDirectory(Dir["run"]);
        File.WriteAllText(ConfigPath, Config());
        First = Make(ConfigPath);
        if (First.ExitCode != 0) throw new InvalidOperationException($"make exited {First.ExitCode}:\n{First.Output}");
    }

    /// <summary>The run's pipeline.yaml: relative paths, 20% validation, 40% test, the default train_head settings (which the
    /// audit's held-out heads follow too); <paramref name="more"/> adds dataset keys.</summary>
    public static string Config(string workspace = "../ws", string more = "") => $"""
        dataset:
          root: ../data
          validation_percent: {ValidationPercent}
          test_percent: {TestPercent}
        {more}
        workspace: {workspace}
        """;

    /// <summary>`make` in the repository with this config: every stage as the Makefile chains them, from the tests' own build
    /// (-o: the build is taken as it is, never redone from here).</summary>
    public static StageProcess.Result Make(string configPath, params string[] targets)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var psi = new ProcessStartInfo("make")
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--no-print-directory", "-o", ".artifacts/.built", $"CONFIG={configPath}", $"CONFIGURATION={configuration}" }.Concat(targets))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("make did not finish in 10 minutes");
        }
        p.WaitForExit();
        return new StageProcess.Result(p.ExitCode, stdout.Result, stderr.Result, false);
    }

    /// <summary>The line a stage's output starts with its name ("TrainHead: ", "Evaluate: ").</summary>
    public static string Line(StageProcess.Result run, string stage) =>
        run.StdOut.Split('\n').LastOrDefault(l => l.StartsWith(stage + ": ", StringComparison.Ordinal))
        ?? throw new InvalidOperationException($"no '{stage}: ' line in:\n{run.Output}");

    /// <summary>The train count in TrainHead's line: "TrainHead: 35 train / 22 validation vectors, ...".</summary>
    public static int TrainCount(StageProcess.Result run) =>
        int.Parse(Regex.Match(Line(run, "TrainHead"), @"TrainHead: (\d+) train /").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    public JsonNode Json(string name) => JsonNode.Parse(File.ReadAllText(Path.Combine(ReportsDir, name)))!;

    public void Dispose() => Dir.Dispose();
}

[CollectionDefinition(Name)]
public sealed class DoctorPipelineCollection : ICollectionFixture<DoctorPipeline>
{
    public const string Name = "doctor pipeline";
}
