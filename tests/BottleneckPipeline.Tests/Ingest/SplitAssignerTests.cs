using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Ingest;

namespace BottleneckPipeline.Tests.Ingest;

public sealed class SplitAssignerTests
{
    private static string Id(int i) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"image {i}")));

    [Fact]
    public void Proportions_are_roughly_right_on_a_thousand_content_ids()
    {
        var assigner = new SplitAssigner(validationPercent: 10, testPercent: 20, salt: "", groupPattern: null);
        var counts = Enumerable.Range(0, 1000).Select(i => assigner.Assign(Id(i), null)).GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
        // Binomial standard deviations: ~9.5 for 10%, ~12.6 for 20%, ~14.5 for 70%; 4 sigma bounds.
        Assert.InRange(counts[Splits.Validation], 62, 138);
        Assert.InRange(counts[Splits.Test], 150, 250);
        Assert.InRange(counts[Splits.Train], 642, 758);
    }

    [Fact]
    public void The_split_depends_only_on_the_key_and_the_salt()
    {
        var a = new SplitAssigner(10, 10, "", null);
        var b = new SplitAssigner(10, 10, "", null);
        var salted = new SplitAssigner(10, 10, "another draw", null);
        var ids = Enumerable.Range(0, 200).Select(Id).ToList();
        Assert.Equal(ids.Select(i => a.Assign(i, null)), ids.Select(i => b.Assign(i, null)));
        Assert.NotEqual(ids.Select(i => a.Assign(i, null)), ids.Select(i => salted.Assign(i, null)));
        Assert.All(ids, i => Assert.InRange(a.Position(i), 0.0, 100.0 - 1e-12));
    }

    [Fact]
    public void Zero_percent_means_none_of_that_split()
    {
        var assigner = new SplitAssigner(0, 0, "", null);
        Assert.All(Enumerable.Range(0, 300).Select(Id), i => Assert.Equal(Splits.Train, assigner.Assign(i, null)));
    }

    [Fact]
    public void Group_key_is_the_first_capture_or_the_whole_match()
    {
        var captured = new SplitAssigner(10, 10, "", "^[^/]+/(.*)_nohash_");
        Assert.Equal("alice", captured.GroupKey("cats/alice_nohash_3.jpg"));
        Assert.Null(captured.GroupKey("cats/plain.jpg"));
        var whole = new SplitAssigner(10, 10, "", "session[0-9]+");
        Assert.Equal("session12", whole.GroupKey("dogs/session12/img.png"));
        Assert.Null(new SplitAssigner(10, 10, "", null).GroupKey("cats/alice_nohash_3.jpg"));
    }
}
