// Placeholder until the certifications API lands (see pages/admin/Certifications.tsx).
import { Empty } from '../kit/page';
export function MyCertifications() {
  return <Empty>You hold no certifications yet.</Empty>;
}
