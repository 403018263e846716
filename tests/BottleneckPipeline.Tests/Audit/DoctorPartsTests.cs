using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Audit;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>The audit's parts on the real cached vectors and thumbnails of <see cref="AuditedFlowers"/>.</summary>
[Collection(AuditedFlowersCollection.Name)]
public sealed class DoctorPartsTests(AuditedFlowers flowers)
{
    private LabelledVectors All => flowers.First.Set!.All;

    [Fact]
    public void The_inverted_file_finds_what_the_exact_search_finds()
    {
        var exact = Neighbours.Find(All.Vectors, Doctor.Neighbours, 2, exact: true);
        var approx = Neighbours.Find(All.Vectors, Doctor.Neighbours, 2, exact: false);
        Assert.True(exact.Exact);
        Assert.False(approx.Exact);
        int found = 0, total = 0;
        for (var i = 0; i < All.Count; i++)
        {
            var got = approx.Of(i).ToArray();
            Assert.DoesNotContain(i, got);
            Assert.True(exact.SimilaritiesOf(i)[0] >= exact.SimilaritiesOf(i)[^1]); // most similar first
            total += exact.K;
            found += exact.Of(i).ToArray().Count(got.Contains);
        }
        // 95 rows make 10 lists, 4 of them probed.
        Assert.True(found >= 0.95 * total, $"recall {found} of {total}");
    }

    [Fact]
    public void The_neighbour_graph_and_the_out_of_fold_probabilities_do_not_depend_on_the_thread_count()
    {
        var one = Neighbours.Find(All.Vectors, Doctor.Neighbours, 1);
        var two = Neighbours.Find(All.Vectors, Doctor.Neighbours, 2);
        for (var i = 0; i < All.Count; i++) Assert.Equal(one.Of(i).ToArray(), two.Of(i).ToArray());
        var p1 = OutOfFold.Probabilities(All, flowers.Config.TrainHead, OutOfFold.DefaultFolds, 1);
        var p2 = OutOfFold.Probabilities(All, flowers.Config.TrainHead, OutOfFold.DefaultFolds, 2);
        Assert.Equal(p1, p2);
        Assert.Equal(flowers.First.OutOfFold, p1);
    }

    [Fact]
    public void Evidence_scores_the_labels_it_is_given_against_what_the_heads_and_neighbours_learned()
    {
        var graph = Neighbours.Find(All.Vectors, Doctor.Neighbours, 2);
        var oof = flowers.First.OutOfFold!;
        var own = Doctor.Labels(All, oof, graph);
        Assert.Equal(flowers.First.Evidence!.Score, own.Score);
        Assert.Equal(own.Score, Doctor.Labels(All, oof, graph, scored: All.Labels).Score);
        // Every row scored under each class in turn: the blend's shares of the classes, which sum to 1, and the
        // suggested class is the one with the largest share after the given label.
        var byClass = Enumerable.Range(0, All.ClassCount)
            .Select(c => Doctor.Labels(All, oof, graph, scored: [.. Enumerable.Repeat(c, All.Count)]).Score).ToArray();
        for (var i = 0; i < All.Count; i++)
        {
            Assert.Equal(1.0, byClass.Sum(score => 1 - score[i]), 1e-6);
            Assert.Equal(own.Score[i], byClass[All.Labels[i]][i], 1e-12);
            var best = Enumerable.Range(0, All.ClassCount).Where(c => c != All.Labels[i]).MaxBy(c => 1 - byClass[c][i]);
            Assert.Equal(1 - byClass[best][i], 1 - byClass[own.Suggested[i]][i], 1e-12);
        }
    }

    [Fact]
    public void Folds_are_stratified_by_class()
    {
        var folds = OutOfFold.AssignFolds(All.Labels, All.ClassCount, 5, seed: 42);
        for (var c = 0; c < All.ClassCount; c++)
        {
            var sizes = Enumerable.Range(0, 5).Select(f => Enumerable.Range(0, All.Count).Count(i => All.Labels[i] == c && folds[i] == f)).ToList();
            Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(",", sizes));
        }
    }

    [Fact]
    public void The_layout_check_tells_a_near_copy_from_another_photo_of_the_same_flower()
    {
        var paths = new[] { AuditedFlowers.CopySource, AuditedFlowers.Copy, "dandelion/" + OtherDandelion() };
        var (thumbs, made) = Thumbnails.For(flowers.Config.CacheDir, [.. paths.Select(p => (IdOf(p), Path.Join(flowers.Data, p)))],
            flowers.Config.Dataset.MaxPixels, 2);
        Assert.Equal(3, thumbs.Count);
        var (source, copy, other) = (thumbs[IdOf(paths[0])], thumbs[IdOf(paths[1])], thumbs[IdOf(paths[2])]);
        Assert.InRange(LayoutCheck.Score(source, copy), LayoutCheck.SamePicture, 1.0001);
        Assert.InRange(LayoutCheck.Score(copy, source), LayoutCheck.SamePicture, 1.0001);
        Assert.True(LayoutCheck.Score(source, other) < LayoutCheck.SamePicture);
        Assert.InRange(LayoutCheck.Score(source, source), 0.9999, 1.0001);
        Assert.True(made <= 1); // the pair's thumbnails were kept by the stage's run
    }

    [Fact]
    public void A_file_changed_since_ingest_gets_no_thumbnail()
    {
        Assert.Null(Thumbnails.Make(Path.Join(flowers.Data, AuditedFlowers.Copy), IdOf(AuditedFlowers.CopySource), flowers.Config.Dataset.MaxPixels));
        Assert.Null(Thumbnails.Make(Path.Join(flowers.Data, "missing.jpg"), IdOf(AuditedFlowers.CopySource), flowers.Config.Dataset.MaxPixels));
    }

    [Fact]
    public void Outliers_are_past_the_fence_and_farthest_first()
    {
        var graph = Neighbours.Find(All.Vectors, Doctor.Neighbours, 2);
        var scores = Doctor.OutlierScores(graph);
        var outliers = Doctor.Outliers(flowers.First.Set!, scores);
        var sorted = scores.Order().ToArray();
        Assert.All(outliers, o => Assert.True(o.Score > sorted[(int)(0.75 * (sorted.Length - 1))]));
        Assert.Equal(outliers.OrderByDescending(o => o.Score).Select(o => o.Path), outliers.Select(o => o.Path));
        Assert.True(outliers.Count < All.Count / 10);
        Assert.Equal(flowers.Report().Outliers.Select(o => o.Path), outliers.Select(o => o.Path));
    }

    [Fact]
    public void Unbalanced_classes_are_warned_about()
    {
        var all = All;
        var set = flowers.First.Set!;
        // Keep every daisy and one photo of each other class.
        var keep = Enumerable.Range(0, all.Count)
            .Where(i => all.Labels[i] == 0 || i == Array.IndexOf(all.Labels, 1) || i == Array.IndexOf(all.Labels, 2)).ToArray();
        var small = new AuditSet(OutOfFold.Subset(all, keep), [.. keep.Select(i => set.Splits[i])]);
        var (counts, warning) = Doctor.ClassBalance(small, AuditStage.SplitNames);
        Assert.Equal(1, counts["roses"].Values.Sum());
        Assert.NotNull(warning);
        Assert.Contains("class_balanced", warning);
        Assert.Null(Doctor.ClassBalance(set, AuditStage.SplitNames).Warning);
    }

    [Fact]
    public void The_report_reads_back_as_written()
    {
        var report = flowers.Report();
        var again = DatasetIssues.Parse(report.ToJson());
        Assert.Equal(report.LabelIssues, again.LabelIssues);
        Assert.Equal(report.NearDuplicates, again.NearDuplicates);
        Assert.Equal(report.Outliers, again.Outliers);
        Assert.Equal(report.ClassCounts.Keys, again.ClassCounts.Keys);
        Assert.Equal(report.InputsHash, again.InputsHash);
        using var dir = new TempDir();
        Assert.Null(DatasetIssues.TryRead(dir["missing.json"]));
        File.WriteAllText(dir["bad.json"], "{\"label_issues\": [{\"path\": 3}]}");
        Assert.Null(DatasetIssues.TryRead(dir["bad.json"]));
        // Keys it does not know are ignored, and absent lists read as empty.
        Assert.Empty(DatasetIssues.Parse("{\"something_new\": 1}").NearDuplicates);
    }

    private string IdOf(string path) => All.ContentIds[Array.IndexOf(All.RelativePaths, path)];

    private string OtherDandelion() =>
        All.RelativePaths.Where(p => p.StartsWith("dandelion/", StringComparison.Ordinal) && !p.Contains("copy"))
            .Order(StringComparer.Ordinal).First()["dandelion/".Length..];
}
