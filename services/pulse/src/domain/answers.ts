// Checks a submission against the wave before anything is stored: every problem is named, nothing is half-written.
export type WaveQuestion = { id: string; kind: "enps" | "scale" | "comment"; min: number; max: number };
export type SubmittedAnswer = { questionId: string; value?: number | undefined; comment?: string | undefined };
export type Problem = { field: string; message: string };

export function checkAnswers(questions: readonly WaveQuestion[], answers: readonly SubmittedAnswer[]): Problem[] {
  const byId = new Map(questions.map((q) => [q.id, q]));
  const seen = new Set<string>();
  const problems: Problem[] = [];
  answers.forEach((answer, i) => {
    const field = `answers[${i}]`;
    const question = byId.get(answer.questionId);
    if (!question) {
      problems.push({ field: `${field}.questionId`, message: "this question is not part of the wave" });
      return;
    }
    if (seen.has(answer.questionId)) {
      problems.push({ field: `${field}.questionId`, message: "this question is answered twice" });
      return;
    }
    seen.add(answer.questionId);
    if (question.kind === "comment") {
      if (answer.value !== undefined)
        problems.push({ field: `${field}.value`, message: "a comment question takes a comment" });
      if (answer.comment === undefined) problems.push({ field: `${field}.comment`, message: "the comment is missing" });
      // PostgreSQL stores no NUL character in text or JSON: refused here rather than failing in the database.
      else if (answer.comment.includes("\u0000")) {
        problems.push({ field: `${field}.comment`, message: "must not contain a NUL character" });
      }
      return;
    }
    if (answer.comment !== undefined) {
      problems.push({ field: `${field}.comment`, message: "this question takes a value, not a comment" });
    }
    if (answer.value === undefined) {
      problems.push({ field: `${field}.value`, message: "the value is missing" });
    } else if (!Number.isInteger(answer.value) || answer.value < question.min || answer.value > question.max) {
      problems.push({ field: `${field}.value`, message: `must be an integer from ${question.min} to ${question.max}` });
    }
  });
  return problems;
}
