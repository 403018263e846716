using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>
/// The built Evaluate executable's other two uses, on the small pipeline's workspace: `--data`
/// scores another labelled folder and `predict` classifies images, both with the exported
/// model.onnx alone. Each output is checked against the pipeline's own path: the head's weights
/// applied by hand to the vectors Extract's code makes of the very files given.
/// </summary>
[Collection(SmallPipelineCollection.Name)]
public class EvaluateCommandLineTests(SmallPipeline run)
{
    /// <summary>The export check's own tolerance on a probability, and CSV's six decimals.</summary>
    private const double Tolerance = 1e-4;

    [Fact]
    public void Data_scores_another_labelled_folder_with_the_model_and_counts_the_images_the_workspace_already_holds()
    {
        using var other = new TempDir();
        var images = LabelledFolder(other["scored"], renamedCopies: 2, newImages: 2);
        var reportBefore = File.ReadAllBytes(Path.Combine(run.Config.ReportsDir, "evaluation.json"));

        var r = StageProcess.Run("Evaluate", "--config", run.Config.SourcePath, "--data", other["scored"], "--out", other["scored.json"]);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains($"wrote {other["scored.json"]}", r.StdOut, StringComparison.Ordinal);

        var head = run.Head();
        var vectors = Reference(images.Select(i => i.File).ToList(), other["cache"]);
        var labels = head.LabelNames.ToList();
        var expected = labels.Select(_ => new int[labels.Count]).ToArray();
        var wrong = new List<string>();
        foreach (var (file, cls) in images)
        {
            var predicted = ReferenceHead.Predicted(head, vectors[file]);
            expected[labels.IndexOf(cls)][predicted]++;
            if (labels[predicted] != cls) wrong.Add(Path.GetRelativePath(other["scored"], file));
        }

        var json = JsonNode.Parse(File.ReadAllText(other["scored.json"]))!;
        Assert.Equal(images.Count, json["accuracy"]!["images"]!.GetValue<int>());
        Assert.Equal(images.Count - wrong.Count, json["accuracy"]!["correct"]!.GetValue<int>());
        Assert.Null(json["test_accuracy"]); // a folder is not the test split
        Assert.Equal(other["scored"], json["scored"]!.GetValue<string>());
        var rows = json["confusion_matrix"]!["rows"]!.AsArray().Select(row => row!.AsArray().Select(c => c!.GetValue<int>()).ToArray()).ToArray();
        Assert.Equal(expected, rows);
        Assert.Equal(wrong.Order(StringComparer.Ordinal),
            json["misclassified"]!.AsArray().Select(m => m!["path"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        // The renamed copies are the workspace's own images: counted by split, and kept out of the figure on the rest.
        var overlap = json["overlap"]!;
        var known = SmallPipeline.Classes * 2;
        Assert.Equal(known, overlap["train"]!.GetValue<int>() + overlap["validation"]!.GetValue<int>() + overlap["test"]!.GetValue<int>());
        Assert.Equal(images.Count - known, overlap["unseen"]!["images"]!.GetValue<int>());
        Assert.Contains($"{known} already in the workspace", r.StdOut, StringComparison.Ordinal);
        // Scoring another folder leaves the workspace's own test report alone.
        Assert.Equal(reportBefore, File.ReadAllBytes(Path.Combine(run.Config.ReportsDir, "evaluation.json")));
    }

    [Fact]
    public void Data_with_labels_the_model_does_not_know_exits_3_naming_them()
    {
        using var other = new TempDir();
        var known = Directory.GetFiles(Directory.GetDirectories(run.Data).Order(StringComparer.Ordinal).First()).Order(StringComparer.Ordinal).First();
        foreach (var name in new[] { "orchids", "cacti" })
            File.Copy(known, Path.Combine(Directory.CreateDirectory(other[Path.Combine("scored", name)]).FullName, "x.jpg"));

        var r = StageProcess.Run("Evaluate", "--config", run.Config.SourcePath, "--data", other["scored"], "--out", other["out.json"]);
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.StartsWith("evaluate --data: error:", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("cacti, orchids", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(other["out.json"]));
    }

    [Fact]
    public void Predict_gives_each_image_the_classes_and_probabilities_evaluate_gives_it()
    {
        using var other = new TempDir();
        var head = run.Head();
        var cache = run.Cache();
        var temperature = JsonNode.Parse(File.ReadAllText(Path.Combine(run.Config.ReportsDir, "evaluation.json")))!["temperature"]!.GetValue<double>();
        // The test split, as Evaluate scored it from the cache, and a file that is no image.
        var test = run.TestExamples();
        var files = test.Select(t => Path.Join(run.Data, t.RelPath)).ToList();
        File.WriteAllText(other["notes.txt"], "not an image");

        var r = StageProcess.Run("Evaluate",
            ["predict", "--config", run.Config.SourcePath, .. files, other["notes.txt"], "--out", other["predictions.csv"], "--top-k", "2"]);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains($"predict: {files.Count} images classified (", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("), 1 skipped", r.StdOut, StringComparison.Ordinal);

        var lines = File.ReadAllLines(other["predictions.csv"]);
        Assert.Equal("path,status,unknown_score,label_1,probability_1,label_2,probability_2,reason", lines[0]);
        var byPath = lines.Skip(1).Select(l => l.Split(',')).ToDictionary(c => c[0], c => c);
        Assert.Equal(files.Count + 1, byPath.Count);
        Assert.Equal("skipped", byPath[other["notes.txt"]][1]); // listed, with its reason
        Assert.NotEqual("", byPath[other["notes.txt"]][^1]);
        foreach (var (file, (id, _, _)) in files.Zip(test))
        {
            var cells = byPath[file];
            Assert.Contains(cells[1], new[] { "classified", "unknown" });
            // Evaluate's probabilities are the head's, calibrated by the temperature it fitted on validation.
            var p = TemperatureScaling.Probabilities(TemperatureScaling.Logits(head.Head, cache.Get(id)!), temperature).Select(v => (double)v).ToArray();
            var ranked = Enumerable.Range(0, p.Length).OrderByDescending(c => p[c]).ToArray();
            Assert.Equal(head.LabelNames[ranked[0]], cells[3]);
            Assert.Equal(head.LabelNames[ranked[1]], cells[5]);
            Assert.Equal(p[ranked[0]], double.Parse(cells[4], CultureInfo.InvariantCulture), Tolerance);
            Assert.Equal(p[ranked[1]], double.Parse(cells[6], CultureInfo.InvariantCulture), Tolerance);
        }
    }

    [Fact]
    public void Predict_needs_only_the_model_file_and_writes_to_standard_output()
    {
        using var other = new TempDir();
        var model = other["alone/model.onnx"];
        Directory.CreateDirectory(other["alone"]);
        File.Copy(Path.Combine(run.Config.Workspace, "model.onnx"), model);
        var files = Directory.GetFiles(Directory.GetDirectories(run.Data)[0]).Order(StringComparer.Ordinal).Take(3).ToArray();

        var withConfig = StageProcess.Run("Evaluate", ["predict", "--config", run.Config.SourcePath, .. files, "--out", other["a.csv"]]);
        Assert.True(withConfig.ExitCode == 0, withConfig.Output);
        var alone = StageProcess.Run("Evaluate", ["predict", "--model", model, .. files, "--out", "-", "--top-k", "3"]);
        Assert.True(alone.ExitCode == 0, alone.Output);
        Assert.Equal(File.ReadAllText(other["a.csv"]), alone.StdOut); // the same rows, on standard output only
        Assert.False(File.Exists(Path.Combine(Environment.CurrentDirectory, "-")));
        Assert.Contains("predict: 3 images classified", alone.StdErr, StringComparison.Ordinal);

        var json = StageProcess.Run("Evaluate", ["predict", "--model", model, files[0], "--out", other["p.json"]]);
        Assert.True(json.ExitCode == 0, json.Output);
        var document = JsonNode.Parse(File.ReadAllText(other["p.json"]))!;
        Assert.Equal(1, document["classified"]!.GetValue<int>());
        Assert.Equal(files[0], document["images"]![0]!["path"]!.GetValue<string>());
    }

    [Fact]
    public void Predict_skips_a_link_to_dev_zero_and_a_fifo_in_seconds_and_exits_3_when_nothing_was_classified()
    {
        using var other = new TempDir();
        var folder = Directory.CreateDirectory(other["in"]).FullName;
        File.CreateSymbolicLink(Path.Combine(folder, "zero.jpg"), "/dev/zero");
        File.CreateSymbolicLink(Path.Combine(folder, "random.jpg"), "/dev/urandom");
        using (var mkfifo = Process.Start("mkfifo", Path.Combine(folder, "x.jpg"))) mkfifo.WaitForExit();
        Assert.True(File.Exists(Path.Combine(folder, "x.jpg")));

        var watch = Stopwatch.StartNew();
        var r = StageProcess.Run("Evaluate", "predict", "--config", run.Config.SourcePath, folder, "--out", other["p.csv"]);
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}"); // a hang would never end; this bound only catches one
        Assert.Contains("none of the 3 file(s) could be classified", r.StdErr, StringComparison.Ordinal);
        var rows = File.ReadAllLines(other["p.csv"]).Skip(1).ToList();
        Assert.Equal(3, rows.Count);
        Assert.All(rows, row => Assert.Contains(",skipped,", row, StringComparison.Ordinal));
        Assert.Contains(rows, row => row.Contains("not a regular file", StringComparison.Ordinal));
    }

    [Fact]
    public void Predict_and_data_work_on_a_read_only_workspace()
    {
        using var other = new TempDir();
        using var disk = SmallFileSystem.Mount(other["ro"], kilobytes: 512 * 1024);
        var data = TestIndex.CopyFlowers(Path.Combine(disk.Path, "data"), SmallPipeline.Classes, 4);
        var config = SmallPipeline.WriteConfig(Path.Combine(disk.Path, "run"), data);
        CopyFolder(run.Config.Workspace, Path.Combine(disk.Path, "run", "ws"));
        disk.RemountReadOnly();

        var predict = StageProcess.Run("Evaluate", "predict", "--config", config, data, "--out", other["p.csv"]);
        Assert.True(predict.ExitCode == 0, predict.Output);
        var scored = StageProcess.Run("Evaluate", "--config", config, "--data", data, "--out", other["scored.json"]);
        Assert.True(scored.ExitCode == 0, scored.Output);
        Assert.Equal(SmallPipeline.Classes * 4, JsonNode.Parse(File.ReadAllText(other["scored.json"]))!["accuracy"]!["images"]!.GetValue<int>());
    }

    /// <summary>
    /// Class subfolders named like the head's labels, holding renamed copies of images the pipeline
    /// embedded and photos of the same classes it never saw.
    /// </summary>
    private List<(string File, string Class)> LabelledFolder(string dir, int renamedCopies, int newImages)
    {
        var files = new List<(string, string)>();
        foreach (var cls in Directory.GetDirectories(run.Data).Select(Path.GetFileName).Order(StringComparer.Ordinal))
        {
            var target = Directory.CreateDirectory(Path.Combine(dir, cls!)).FullName;
            var known = Directory.GetFiles(Path.Combine(run.Data, cls!)).Order(StringComparer.Ordinal).Take(renamedCopies);
            var unseen = Directory.GetFiles(Path.Combine(RepoPaths.Flowers, cls!), "*.jpg").Order(StringComparer.Ordinal)
                .Skip(SmallPipeline.PerClass).Take(newImages);
            foreach (var (source, i) in known.Concat(unseen).Select((f, i) => (f, i)))
            {
                var file = Path.Combine(target, $"photo {i}.jpg");
                File.Copy(source, file);
                files.Add((file, cls!));
            }
        }
        return files;
    }

    /// <summary>Each file's vector by Extract's own code (a cache of its own), independent of the exported model.</summary>
    private Dictionary<string, float[]> Reference(List<string> files, string cacheDir)
    {
        var config = BottleneckPipeline.Config.ConfigLoader.Load(run.Config.SourcePath);
        config.Cache.Dir = cacheDir;
        var embedded = ImageEmbedder.Embed(BackboneFactory.Resolve(config), config, files);
        return embedded.ToDictionary(e => e.Path, e => e.Vector ?? throw new InvalidOperationException($"{e.Path}: {e.Error}"));
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

}
