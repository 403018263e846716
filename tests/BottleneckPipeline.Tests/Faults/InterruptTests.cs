using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// Ctrl+C (SIGINT) to every real stage executable, sent as soon as its runs row says `running`:
/// each exits 130, records the run as failed (not left `running`), and writes no half result.
/// </summary>
[Trait("Category", "Faults")]
public class InterruptTests
{
    /// <summary>True once the newest runs row of <paramref name="stage"/> says running.</summary>
    private static Func<bool> Running(FaultRig rig, string stage) => () =>
    {
        if (!File.Exists(rig.IndexPath)) return false;
        try { return rig.Query($"SELECT outcome FROM runs WHERE stage = '{stage}' ORDER BY run_id DESC LIMIT 1;") is ["running"]; }
        catch (SqliteException) { return false; } // being created
    };

    /// <summary>True once the process has ONNX Runtime loaded: a command that writes nothing of the workspace (no runs row)
    /// has then begun its inference, which on flowers the cache has never seen takes seconds.</summary>
    private static bool OnnxRuntimeLoaded(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/maps").Contains("libonnxruntime", StringComparison.Ordinal); }
        catch (IOException) { return false; } // exited meanwhile
    }

    /// <summary>Ctrl+C to a read-only command (Evaluate --data, predict): exit 130, no output file, and no runs row, before or after.</summary>
    private static void InterruptReadOnly(FaultRig rig, string runName, string output, params string[] args)
    {
        var r = StageProcess.RunAndInterruptWhen("Evaluate", OnnxRuntimeLoaded, args);
        Assert.True(r.Killed, $"{runName} finished before it could be interrupted:\n{r.Output}");
        Assert.True(r.ExitCode == ExitCodes.Interrupted, $"{runName} exited {r.ExitCode}:\n{r.Output}");
        Assert.Contains($"{runName}: interrupted", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
        Assert.Empty(rig.Query($"SELECT stage FROM runs WHERE stage = '{runName}';"));
    }

    /// <param name="args">The command line; default: --config and the rig's config.</param>
    private static void InterruptAndCheck(FaultRig rig, string stage, string runName, params string[] args)
    {
        var r = StageProcess.RunAndInterruptWhen(stage, Running(rig, runName), args.Length > 0 ? args : ["--config", rig.ConfigPath]);
        Assert.True(r.Killed, $"{runName} finished before it could be interrupted:\n{r.Output}");
        Assert.True(r.ExitCode == ExitCodes.Interrupted, $"{runName} exited {r.ExitCode}:\n{r.Output}");
        Assert.Contains($"{runName}: interrupted", r.StdErr, StringComparison.Ordinal);
        Assert.Equal([$"{runName} failed interrupted"],
            rig.Query($"SELECT stage || ' ' || outcome || ' ' || detail FROM runs WHERE stage = '{runName}' ORDER BY run_id DESC LIMIT 1;"));
    }

    [Fact]
    public void Ingest_stops_on_ctrl_c_and_leaves_the_index_as_it_was()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 4);
        // Each photo padded (sparse, so it costs no disk) to 256 MB: hashing them takes seconds.
        foreach (var f in Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories))
        {
            using var s = new FileStream(f, FileMode.Open, FileAccess.Write);
            s.SetLength(256L << 20);
        }
        var rig = new FaultRig(t["rig"], data);
        InterruptAndCheck(rig, "Ingest", "ingest");
        Assert.Empty(rig.Examples());
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "ingest.json")));
    }

    [Fact]
    public void Every_other_stage_and_mode_stops_on_ctrl_c_records_its_run_as_failed_and_resumes()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 6), extraYaml: "extract:\n  batch_size: 1");
        rig.RunOk("Ingest");

        InterruptAndCheck(rig, "Extract", "extract");
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "extract.json")));
        rig.RunOk("Extract");

        // Millions of steps: only Ctrl+C ends this run.
        File.WriteAllText(rig.ConfigPath, File.ReadAllText(rig.ConfigPath).Replace("steps: 300", "steps: 10000000\n  patience: 0", StringComparison.Ordinal));
        InterruptAndCheck(rig, "TrainHead", "train-head");
        Assert.False(File.Exists(rig.HeadPath));
        rig.WriteConfig("extract:\n  batch_size: 1");
        rig.RunOk("TrainHead");

        InterruptAndCheck(rig, "Evaluate", "evaluate");
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "evaluation.json")));
        rig.RunOk("Evaluate");

        // Flowers the cache has never seen, so both modes have inference to do.
        var unseen = CopyUnseenFlowers(t["unseen"], skip: 6, perClass: 6);
        InterruptReadOnly(rig, "evaluate --data", t["scored.json"], "--config", rig.ConfigPath, "--data", unseen, "--out", t["scored.json"]);
        InterruptReadOnly(rig, "predict", t["predictions.csv"], "predict", "--config", rig.ConfigPath, unseen, "--out", t["predictions.csv"]);

        var again = StageProcess.Run("Evaluate", "predict", "--config", rig.ConfigPath, unseen, "--out", t["predictions.csv"]);
        Assert.True(again.ExitCode == 0, again.Output);
        Assert.True(File.Exists(t["predictions.csv"]));
        Assert.DoesNotContain(rig.Runs(), row => row.EndsWith(" running", StringComparison.Ordinal));
    }

    /// <summary>Flowers after the first <paramref name="skip"/> of each of the first three classes.</summary>
    private static string CopyUnseenFlowers(string dest, int skip, int perClass)
    {
        foreach (var dir in Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal).Take(3))
        {
            var target = Directory.CreateDirectory(Path.Combine(dest, Path.GetFileName(dir))).FullName;
            foreach (var f in Directory.GetFiles(dir, "*.jpg").Order(StringComparer.Ordinal).Skip(skip).Take(perClass))
                File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
        return dest;
    }
}
