using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// Mistakes a user can make that once ended in exit 1 with a stack trace: each now gives one
/// `stage: error:` line saying what to do, with the documented exit code, through the real executables.
/// </summary>
[Trait("Category", "Faults")]
public class UserMistakeTests
{
    /// <summary>Asserts the run failed with this code and one error line for this stage, no trace.</summary>
    private static void AssertUserError(StageProcess.Result r, int exitCode, string stage)
    {
        Assert.True(r.ExitCode == exitCode, $"exited {r.ExitCode}, expected {exitCode}:\n{r.Output}");
        Assert.StartsWith($"{stage}: error: ", r.StdErr, StringComparison.Ordinal);
        Assert.Single(r.StdErr.Trim().Split('\n'));
    }

    /// <summary>A config of our own: the rig's template fixes the split and train_head sections.</summary>
    private static void WriteConfig(FaultRig rig, string dataset, string train = "", string evaluate = "") => File.WriteAllText(rig.ConfigPath, $"""
        dataset:
        {dataset}
          root: {rig.Dataset}
        workspace: {rig.Workspace}
        cache:
          dir: {rig.CacheDir}
        train_head:
          steps: 100
          eval_interval: 50
        {train}
        evaluate:
          top_k: 2
        {evaluate}
        """);

    [Fact]
    public void A_dataset_of_one_class_is_refused_by_Ingest_naming_the_folder_before_the_index_is_filled()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 1, perClass: 6);
        Directory.CreateDirectory(Path.Combine(data, "empty")); // a second folder, with no image: still one class
        var rig = new FaultRig(t["rig"], data);
        var r = rig.Run("Ingest");
        AssertUserError(r, ExitCodes.BadInput, "ingest");
        Assert.Contains($"dataset.root {data} has one class", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("daisy: 6 images", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("at least two", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("empty", r.StdErr, StringComparison.Ordinal); // the folder left out is named too
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "ingest.json")));
        Assert.Empty(rig.Query("SELECT rel_path FROM files;"));
        Assert.Empty(rig.Query("SELECT name FROM classes;"));

        // The classes one level down: the message says where they are.
        var nested = t["nested"];
        TestIndex.CopyFlowers(Path.Combine(nested, "flower_photos"), classes: 2, perClass: 2);
        var rig2 = new FaultRig(t["rig2"], nested);
        var r2 = rig2.Run("Ingest");
        AssertUserError(r2, ExitCodes.BadInput, "ingest");
        Assert.Contains($"dataset.root: {Path.Combine(nested, "flower_photos")}", r2.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void No_test_split_with_export_on_is_refused_at_the_key_and_line_before_any_work()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 2));
        WriteConfig(rig, "  test_percent: 0");
        var line = File.ReadAllLines(rig.ConfigPath).ToList().FindIndex(l => l.Contains("test_percent", StringComparison.Ordinal)) + 1;
        foreach (var stage in FaultRig.Stages)
        {
            var r = rig.Run(stage);
            Assert.True(r.ExitCode == ExitCodes.BadConfig, $"{stage} exited {r.ExitCode}:\n{r.Output}");
            Assert.Contains($"{rig.ConfigPath}:{line}: key 'dataset.test_percent' = 0", r.StdErr, StringComparison.Ordinal);
            Assert.Contains("evaluate.export: false", r.StdErr, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(rig.Workspace));
    }

    [Fact]
    public void No_test_image_makes_Evaluate_exit_3_with_export_on_and_say_so_without()
    {
        using var t = new TempDir();
        // With 20% held out for test, none of these ten images lands there.
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 5));
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead" }) rig.RunOk(stage);
        Assert.Empty(rig.Query("SELECT rel_path FROM examples WHERE split = 'test';"));

        var r = rig.Run("Evaluate");
        AssertUserError(r, ExitCodes.BadInput, "evaluate");
        Assert.Contains("dataset.test_percent is 20", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("evaluate.export: false", r.StdErr, StringComparison.Ordinal);
        Assert.Equal("evaluate failed", rig.Runs()[^1]);

        rig.WriteConfig("evaluate:\n  export: false");
        Assert.Contains("the test split is empty", rig.RunOk("Evaluate").StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_train_split_makes_TrainHead_exit_3_naming_the_split_percentages()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3));
        // 0.01% is left for training: none of six images lands there.
        WriteConfig(rig, "  validation_percent: 79.99\n  test_percent: 20");
        rig.RunOk("Ingest");
        Assert.Empty(rig.Query("SELECT rel_path FROM examples WHERE split = 'train';"));
        rig.RunOk("Extract");

        var r = rig.Run("TrainHead");
        AssertUserError(r, ExitCodes.BadInput, "train-head");
        Assert.Contains("train split", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("dataset.validation_percent (79.99)", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(rig.HeadPath));
    }

    [Fact]
    public void A_test_image_deleted_after_Extract_makes_Evaluate_exit_3_naming_it_and_make_recovers()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 8));
        rig.RunAll();
        var model = Path.Combine(rig.Workspace, "model.onnx");
        var exported = File.ReadAllBytes(model);
        var tests = rig.Query("SELECT rel_path FROM examples WHERE split = 'test' ORDER BY rel_path;");
        Assert.True(tests.Count >= 2, "one test image must be left to evaluate on");
        // Another head (another seed), so Evaluate has a new model to export when the image is gone.
        File.WriteAllText(rig.ConfigPath,
            File.ReadAllText(rig.ConfigPath).Replace("eval_interval: 50", "eval_interval: 50\n  seed: 7", StringComparison.Ordinal));
        rig.RunOk("TrainHead");
        var path = Path.Combine(rig.Dataset, tests[0]);
        File.Delete(path);

        var r = rig.Run("Evaluate");
        AssertUserError(r, ExitCodes.BadInput, "evaluate");
        Assert.Contains(path, r.StdErr, StringComparison.Ordinal);
        Assert.Contains("Run make again", r.StdErr, StringComparison.Ordinal);
        Assert.Equal(exported, File.ReadAllBytes(model)); // the last checked model is not replaced by an unchecked one

        rig.RunAll(); // what `make` runs
        Assert.True(rig.Evaluation().Export!.Passed);
        Assert.Equal(tests.Count - 1, rig.Evaluation().Images);
    }

    [Fact]
    public void An_image_the_decoder_chokes_on_is_quarantined_not_a_crash()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3);
        var bad = Path.Combine(Directory.GetDirectories(data).Order(StringComparer.Ordinal).First(), "zero-bits.bmp");
        File.WriteAllBytes(bad, TestImages.ZeroBitDepthBmp());
        var rig = new FaultRig(t["rig"], data);
        rig.RunOk("Ingest");
        Assert.Contains(rig.Examples(), e => e.EndsWith("zero-bits.bmp", StringComparison.Ordinal)); // its header is fine

        var r = rig.RunOk("Extract");
        Assert.DoesNotContain("error", r.StdErr, StringComparison.Ordinal);
        var quarantined = Assert.Single(rig.Quarantine());
        Assert.Contains("zero-bits.bmp: cannot decode", quarantined, StringComparison.Ordinal);
        Assert.Contains("DivideByZeroException", quarantined, StringComparison.Ordinal);
        rig.RunOk("TrainHead");
    }

    [Fact]
    public void Evaluate_data_works_with_a_custom_backbone_whose_bottleneck_size_the_graph_does_not_state()
    {
        using var t = new TempDir();
        var model = t["pool.onnx"];
        File.WriteAllBytes(model, TinyBackbone.ShapelessBottleneck());
        // Enough images that the test split holds some: --data scores with the exported model, which Evaluate checks on them.
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 12),
            extraYaml: $"backbone:\n  name: custom\n  onnx: {model}\n  bottleneck: pooled");
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead", "Evaluate" }) rig.RunOk(stage);
        Assert.Equal(TinyBackbone.Dimension, rig.Head().Dimension);

        var scored = TestIndex.CopyFlowers(t["other"], classes: 2, perClass: 6);
        var outJson = t["scored.json"];
        var r = StageProcess.Run("Evaluate", "--config", rig.ConfigPath, "--data", scored, "--out", outJson);
        Assert.True(r.ExitCode == 0, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.Equal(12, BottleneckPipeline.Evaluate.EvaluationReport.FromJson(File.ReadAllText(outJson)).Images);
        Assert.DoesNotContain(rig.Runs(), r => r.StartsWith("evaluate --data", StringComparison.Ordinal)); // it writes nothing of the workspace
    }
}
