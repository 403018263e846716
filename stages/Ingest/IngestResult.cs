namespace BottleneckPipeline.Ingest;

/// <summary>What one ingest run found and did; the report and the summary line are made from this.</summary>
internal sealed class IngestResult
{
    public required string Root { get; init; }
    /// <summary>Class names in label order (label_id = index).</summary>
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>Accepted image files, ordered by path.</summary>
    public required IReadOnlyList<FileRow> Files { get; init; }
    /// <summary>Examples ordered by (content_id, class), the order the index hash is taken in.</summary>
    public required IReadOnlyList<ExampleRow> Examples { get; init; }
    public required IReadOnlyList<(string RelPath, string Reason)> Rejects { get; init; }
    /// <summary>Contents found under more than one class, with every path they were found at.</summary>
    public required IReadOnlyList<(string ContentId, IReadOnlyList<string> Paths)> Conflicts { get; init; }
    /// <summary>Files whose bytes already appear earlier (by path) in the same class: (path, the first path). They add no example.</summary>
    public required IReadOnlyList<(string RelPath, string SameAs)> Duplicates { get; init; }
    public required IReadOnlyList<string> Warnings { get; init; }
    public required int SkippedHidden { get; init; }
    public required int SkippedNonImage { get; init; }
    /// <summary>SHA-256 over the examples (content_id, class, split, conflict) in order: later stages' upstream hash.</summary>
    public required string IndexHash { get; init; }
    public required bool IncludeConflicts { get; init; }

    /// <summary>Files opened and read this run (new or changed since the last run); 0 when nothing changed.</summary>
    public required int ProbedFiles { get; init; }
    /// <summary>Files whose stored row was reused because size and mtime had not changed.</summary>
    public required int ReusedFiles { get; init; }
    public required int AddedFiles { get; init; }
    public required int ChangedFiles { get; init; }
    public required int RemovedFiles { get; init; }
    public double Seconds { get; set; }

    /// <summary>Examples later stages use: conflicts only when dataset.include_conflicts is on.</summary>
    public IEnumerable<ExampleRow> UsableExamples => Examples.Where(e => !e.Conflict || IncludeConflicts);

    public int SplitCount(string split) => UsableExamples.Count(e => e.Split == split);

    /// <summary>Classes with no usable train example, in label order: a head could never learn them, so TrainHead refuses to run.</summary>
    public IReadOnlyList<string> ClassesWithoutTraining =>
        [.. Classes.Except(UsableExamples.Where(e => e.Split == Splits.Train).Select(e => e.Class), StringComparer.Ordinal)];
}
