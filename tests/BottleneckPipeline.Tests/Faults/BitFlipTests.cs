using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BottleneckPipeline.FineTune;
using BottleneckPipeline.Tests.Fixtures;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// Random bit flips in every artifact a later stage trusts, on the integrity rig's real files: seeded
/// trials, each on the clean workspace, each running the stage that reads the damaged file. Every
/// outcome must be the clean result, a rebuild (with its one line, to the clean result), or exit 3
/// with advice that names a make target, leaving every other file as it was; never exit 1 and never
/// a different result with exit 0.
/// </summary>
[Trait("Category", "Faults")]
[Collection(IntegrityRigCollection.Name)]
public partial class BitFlipTests(IntegrityRig rig, ITestOutputHelper output)
{
    private const int Trials = 20;

    /// <summary>A repair line: the file, then what its checksum said.</summary>
    [GeneratedRegex(@"^[a-z-]+: (?<file>\S+) (failed its checksum|has no checksum|is not in the format this version reads)", RegexOptions.Multiline)]
    private static partial Regex RepairLine();

    private enum Outcome { Clean, Rebuilt, Refused }

    [Fact]
    public void Head_msgpack_is_retrained_by_TrainHead_and_refused_by_Evaluate()
    {
        var main = rig.Main;
        Flip(main, main.HeadPath, (trial, counts) =>
        {
            if (trial % 4 == 0) counts.Add(Judge(main, "Evaluate", "head.msgpack", () => false));
            counts.Add(Judge(main, "TrainHead", "head.msgpack", () => IntegrityRig.Weights(main.HeadPath) == rig.MainHead));
        });
    }

    [Fact]
    public void Model_onnx_is_refused_by_predict_and_re_exported_by_Evaluate()
    {
        var main = rig.Main;
        Flip(main, rig.ModelPath, (trial, counts) =>
        {
            counts.Add(Judge(main, "predict", "model.onnx", () => false,
                () => StageProcess.Run("Evaluate", "predict", "--config", main.ConfigPath, main.Dataset, "--out", "-")));
            if (trial % 4 == 0)
                counts.Add(Judge(main, "Evaluate", "model.onnx", () =>
                    IntegrityRig.Figures(main) == rig.MainFigures && File.ReadAllBytes(rig.ModelPath).AsSpan().SequenceEqual(rig.Model)));
        });
    }

    [Fact]
    public void Evaluation_json_is_evaluated_again()
    {
        var main = rig.Main;
        Flip(main, rig.EvaluationPath(main), (_, counts) =>
            counts.Add(Judge(main, "Evaluate", "reports/evaluation.json", () => IntegrityRig.Figures(main) == rig.MainFigures)));
    }

    [Fact]
    public void Extract_json_is_written_again_by_Extract_and_refused_by_TrainHead()
    {
        var main = rig.Main;
        var path = Path.Combine(main.ReportsDir, "extract.json");
        var clean = Identity(JsonNode.Parse(File.ReadAllText(path))!, "inputs_hash", "fingerprint", "dimension", "backbone");
        Flip(main, path, (trial, counts) =>
        {
            if (trial % 4 == 0) counts.Add(Judge(main, "TrainHead", "reports/extract.json", () => false));
            counts.Add(Judge(main, "Extract", "reports/extract.json", () =>
                Identity(JsonNode.Parse(File.ReadAllText(path))!, "inputs_hash", "fingerprint", "dimension", "backbone") == clean));
        });
    }

    [Fact]
    public void Ingest_json_is_written_again()
    {
        var main = rig.Main;
        var path = Path.Combine(main.ReportsDir, "ingest.json");
        string[] keys = ["dataset_root", "index_hash", "images", "examples", "classes", "splits", "rejects", "conflicts", "duplicates"];
        var clean = Identity(JsonNode.Parse(File.ReadAllText(path))!, keys);
        Flip(main, path, (_, counts) =>
            counts.Add(Judge(main, "Ingest", "reports/ingest.json", () => Identity(JsonNode.Parse(File.ReadAllText(path))!, keys) == clean)));
    }

    [Theory]
    [InlineData("fine_tuned.json")]
    [InlineData("backbone.onnx")]
    [InlineData("head.msgpack")]
    public void Fine_tune_files_are_refused_by_Evaluate_and_fine_tuned_again_by_FineTune(string file)
    {
        var tuned = rig.Tuned;
        Flip(tuned, Path.Combine(rig.TunedDirectory, file), (trial, counts) =>
        {
            counts.Add(Judge(tuned, "Evaluate", "fine_tune/", () => false));
            // Fine-tuning again takes seconds: the first trial shows it, the others that Evaluate never trusts the file.
            if (trial == 0)
                counts.Add(Judge(tuned, "FineTune", "fine_tune/", () => File.ReadAllBytes(rig.TunedBackbonePath).AsSpan().SequenceEqual(rig.TunedBackbone)
                                                                       && IntegrityRig.Weights(rig.TunedHeadPath) == rig.TunedHead));
        }, trials: Trials / 3 + 1);
    }

    /// <summary>
    /// The killed run's real checkpoint, flipped, read the way FineTune reads it before training: every
    /// trial is discarded with its line (a FineTune run per trial would take minutes; IntegrityTests runs
    /// FineTune on a damaged and on a cut-short checkpoint and gets the uninterrupted result).
    /// </summary>
    [Fact]
    public void Checkpoint_bin_is_discarded_with_a_line()
    {
        var workspace = rig.Tuned.Workspace;
        var path = Path.Combine(rig.Dir.Path, "checkpoint.bin");
        File.WriteAllBytes(path, rig.Checkpoint);
        var inputsHash = InputsHashOf(rig.Checkpoint);
        Assert.NotNull(Checkpoint.TryLoad(path, inputsHash, 0, workspace).State); // the clean one resumes
        var random = new Random(7);
        for (var trial = 0; trial < Trials; trial++)
        {
            var damaged = Flips(rig.Checkpoint, random);
            File.WriteAllBytes(path, damaged);
            var (state, line) = Checkpoint.TryLoad(path, inputsHash, 0, workspace);
            Assert.Null(state);
            Assert.Matches(RepairLine(), line);
            Assert.EndsWith(": discarded, training starts from scratch", line, StringComparison.Ordinal);
        }
    }

    /// <summary>The inputs hash a checkpoint records: a .NET string (7-bit length prefix) after the 8-byte magic.</summary>
    private static string InputsHashOf(byte[] checkpoint) => System.Text.Encoding.UTF8.GetString(checkpoint, 9, checkpoint[8]);

    /// <summary>
    /// Runs the trials on one artifact: each restores the rig's clean workspace, flips bits of the file and
    /// lets <paramref name="trial"/> run the stages that read it; the outcomes are counted and printed.
    /// </summary>
    private void Flip(FaultRig target, string path, Action<int, List<Outcome>> trial, int trials = Trials)
    {
        var clock = Stopwatch.StartNew();
        var clean = File.ReadAllBytes(path);
        var random = new Random(Path.GetFileName(path).Sum(c => c));
        var outcomes = new List<Outcome>();
        try
        {
            for (var t = 0; t < trials; t++)
            {
                rig.Restore(target);
                File.WriteAllBytes(path, Flips(clean, random));
                trial(t, outcomes);
            }
        }
        finally
        {
            rig.Restore(target);
        }
        var counted = string.Join(", ", outcomes.GroupBy(o => o).Select(g => $"{g.Count()} {g.Key}"));
        output.WriteLine($"{Path.GetFileName(path)}: {trials} trials, {counted}; {clock.Elapsed.TotalSeconds:0} s");
    }

    /// <summary>1 to 16 random bits of the file flipped, anywhere in it.</summary>
    private static byte[] Flips(byte[] clean, Random random)
    {
        var damaged = (byte[])clean.Clone();
        for (var n = random.Next(1, 17); n > 0; n--) damaged[random.Next(damaged.Length)] ^= (byte)(1 << random.Next(8));
        return damaged.AsSpan().SequenceEqual(clean) ? Flips(clean, random) : damaged; // two flips of one bit cancel
    }

    /// <summary>
    /// Runs the stage on the damaged workspace and says what came of it: exit 3 with advice leaving every
    /// file as it was (refused), or exit 0 with its repair line and <paramref name="isClean"/> holding
    /// (rebuilt); anything else fails the test.
    /// </summary>
    /// <param name="file">the damaged file as the repair line names it (a prefix).</param>
    private Outcome Judge(FaultRig target, string stage, string file, Func<bool> isClean, Func<StageProcess.Result>? run = null)
    {
        var before = Files(target.Workspace);
        var r = run?.Invoke() ?? target.Run(stage);
        var why = $"{stage} exited {r.ExitCode}:\n{r.Output}";
        if (r.ExitCode == 3)
        {
            Assert.Matches(@"make [a-z-]+", r.StdErr);
            Assert.Equal(before, Files(target.Workspace));
            return Outcome.Refused;
        }
        Assert.True(r.ExitCode == 0, why);
        var repaired = RepairLine().Matches(r.StdOut).Select(m => m.Groups["file"].Value).ToList();
        Assert.True(repaired.Count == 1 && repaired[0].StartsWith(file, StringComparison.Ordinal), $"not one repair line about {file}: " + why);
        Assert.True(isClean(), "exit 0 with another result than the clean one: " + why);
        return Outcome.Rebuilt;
    }

    /// <summary>Every workspace file but the index (its runs table records each run) and the lock, with its SHA-256.</summary>
    private static Dictionary<string, string> Files(string workspace) =>
        Directory.GetFiles(workspace, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith("index.sqlite", StringComparison.Ordinal))
            .Where(f => !Path.GetFileName(f).StartsWith(".lock", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(workspace, f), f => Artifacts.Sha256.OfFile(f));

    private static string Identity(JsonNode json, params string[] keys) => string.Join("\n", keys.Select(k => json[k]?.ToJsonString()));
}
