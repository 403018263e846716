namespace BottleneckPipeline.Ingest;

/// <summary>A row of the files table: one accepted image file.</summary>
internal sealed record FileRow(string RelPath, string Class, long Size, long MtimeNs, string ContentId, int Width, int Height, string Format);

/// <summary>A row of the examples table: one distinct (content, class) pair and its split.</summary>
internal sealed record ExampleRow(string ContentId, string Class, string Split, string? GroupKey, bool Conflict, string RelPath);
