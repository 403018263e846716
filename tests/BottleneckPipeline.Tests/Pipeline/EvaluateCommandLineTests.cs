using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>
/// The built Evaluate executable's other two uses, on the small pipeline's workspace: `--data`
/// scores another labelled folder, `predict` classifies images. Each output is checked against the
/// head's weights applied by hand to the cached vectors of the very files given.
/// </summary>
[Collection(SmallPipelineCollection.Name)]
public class EvaluateCommandLineTests(SmallPipeline run)
{
    [Fact]
    public void Data_scores_another_labelled_folder_with_known_and_new_images()
    {
        using var other = new TempDir();
        var images = LabelledFolder(other["scored"], renamedCopies: 2, newImages: 2);
        var reportBefore = File.ReadAllBytes(Path.Combine(run.Config.ReportsDir, "evaluation.json"));

        var r = StageProcess.Run("Evaluate", "--config", run.Config.SourcePath, "--data", other["scored"], "--out", other["scored.json"]);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains($"wrote {other["scored.json"]}", r.StdOut, StringComparison.Ordinal);

        var head = run.Head();
        var cache = run.Cache(); // now also holds the new images' vectors, embedded by this run
        var labels = head.LabelNames.ToList();
        var expected = labels.Select(_ => new int[labels.Count]).ToArray();
        var wrong = new List<string>();
        foreach (var (file, cls) in images)
        {
            var vector = cache.Get(ContentId(file));
            Assert.True(vector is not null, $"{file} was not embedded through the cache");
            var predicted = ReferenceHead.Predicted(head, vector);
            expected[labels.IndexOf(cls)][predicted]++;
            if (labels[predicted] != cls) wrong.Add(Path.GetRelativePath(other["scored"], file));
        }

        var json = JsonNode.Parse(File.ReadAllText(other["scored.json"]))!;
        Assert.Equal(images.Count, json["test_images"]!.GetValue<int>());
        Assert.Equal((double)(images.Count - wrong.Count) / images.Count, json["test_accuracy"]!.GetValue<double>(), 12);
        var rows = json["confusion_matrix"]!["rows"]!.AsArray().Select(row => row!.AsArray().Select(c => c!.GetValue<int>()).ToArray()).ToArray();
        Assert.Equal(expected, rows);
        Assert.Equal(wrong.Order(StringComparer.Ordinal), json["misclassified"]!.AsArray().Select(m => m!["path"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        // Scoring another folder leaves the workspace's own test report alone.
        Assert.Equal(reportBefore, File.ReadAllBytes(Path.Combine(run.Config.ReportsDir, "evaluation.json")));
    }

    [Fact]
    public void Data_with_labels_the_head_does_not_know_exits_3_naming_them()
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
    public void Predict_writes_each_images_top_k_labels_and_probabilities()
    {
        using var other = new TempDir();
        var images = LabelledFolder(other["in"], renamedCopies: 1, newImages: 1).Select(i => i.File).ToList();
        File.WriteAllText(other["in/notes.txt"], "not an image");

        var r = StageProcess.Run("Evaluate", "predict", "--config", run.Config.SourcePath, other["in"], "--out", other["predictions.csv"], "--top-k", "2");
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains($"predict: {images.Count} images classified", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("notes.txt", r.StdOut, StringComparison.Ordinal); // listed as skipped

        var lines = File.ReadAllLines(other["predictions.csv"]);
        Assert.Equal("path,label_1,probability_1,label_2,probability_2", lines[0]);
        Assert.Equal(images.Count, lines.Length - 1);
        var head = run.Head();
        var cache = run.Cache();
        var byPath = lines.Skip(1).Select(l => l.Split(',')).ToDictionary(c => c[0], c => c);
        Assert.Equal(images.Order(StringComparer.Ordinal), byPath.Keys.Order(StringComparer.Ordinal));
        foreach (var file in images)
        {
            var cells = byPath[file];
            Assert.Equal(5, cells.Length);
            var p = ReferenceHead.Probabilities(head, cache.Get(ContentId(file))!);
            var ranked = Enumerable.Range(0, p.Length).OrderByDescending(c => p[c]).ToArray();
            Assert.Equal(head.LabelNames[ranked[0]], cells[1]);
            Assert.Equal(head.LabelNames[ranked[1]], cells[3]);
            Assert.Equal(p[ranked[0]], double.Parse(cells[2], CultureInfo.InvariantCulture), 5e-6);
            Assert.Equal(p[ranked[1]], double.Parse(cells[4], CultureInfo.InvariantCulture), 5e-6);
        }
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
            var unseen = Directory.GetFiles(Path.Combine(RepoPaths.Flowers, cls!), "*.jpg").Order(StringComparer.Ordinal).Skip(SmallPipeline.PerClass).Take(newImages);
            foreach (var (source, i) in known.Concat(unseen).Select((f, i) => (f, i)))
            {
                var file = Path.Combine(target, $"photo {i}.jpg");
                File.Copy(source, file);
                files.Add((file, cls!));
            }
        }
        return files;
    }

    private static string ContentId(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
}
